from leadflow.dashboard.views import bp  # noqa: F401
