from leadflow.sequences.views import bp  # noqa: F401
