from leadflow.mail.views import bp  # noqa: F401

import leadflow.scheduler.jobs  # noqa: E402,F401  (registers the sweeps and the new-lead arrival steps)
