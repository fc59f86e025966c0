"""The e-mail sweeps and new-lead arrival steps, imported in one place.

The mail area imports this when the app is built, so the arrival steps run for every new
lead in every process; the runner imports it again before it schedules anything. (Other
areas register their sweeps from their own modules, imported with their blueprints.)
"""

import leadflow.mail.delivery  # noqa: F401  (the outbox sweep)
import leadflow.scheduler.reminders  # noqa: F401  (task reminders, lead alerts, digests; arrival steps)
