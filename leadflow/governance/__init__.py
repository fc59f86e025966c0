from leadflow.governance.views import bp  # noqa: F401
