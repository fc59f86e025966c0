from leadflow.leads.views import bp  # noqa: F401
