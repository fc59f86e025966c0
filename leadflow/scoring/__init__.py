from leadflow.scoring.views import bp  # noqa: F401
