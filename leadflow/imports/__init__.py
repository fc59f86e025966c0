from leadflow.imports.views import bp  # noqa: F401
