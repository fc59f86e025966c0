"""Every model, imported in one place so Alembic and the app see the whole schema."""

from leadflow.accounts.models import Team, User  # noqa: F401
from leadflow.activities.models import Activity, Task  # noqa: F401
from leadflow.governance.models import AuditEntry, Setting  # noqa: F401
from leadflow.leads.models import Lead, Organization, Tag, lead_tags  # noqa: F401
from leadflow.pipeline.models import Pipeline, Stage, StageChange, StageTotals  # noqa: F401

import leadflow.pipeline.totals  # noqa: E402,F401  (keeps stage totals in step on every flush)
