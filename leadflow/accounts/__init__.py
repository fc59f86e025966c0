from leadflow.accounts.views import bp  # noqa: F401
