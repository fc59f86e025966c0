from leadflow.api.views import bp  # noqa: F401
