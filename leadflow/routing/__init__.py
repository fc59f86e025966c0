from leadflow.routing.views import bp  # noqa: F401
