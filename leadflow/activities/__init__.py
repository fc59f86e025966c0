from leadflow.activities.views import bp  # noqa: F401
