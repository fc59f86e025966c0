from leadflow.capture.views import bp  # noqa: F401
