from leadflow.mail.views import bp  # noqa: F401
