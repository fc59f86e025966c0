from leadflow.workflows.views import bp  # noqa: F401
