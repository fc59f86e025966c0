"""Every model, imported in one place so Alembic and the app see the whole schema."""

from leadflow.accounts.models import Team, User  # noqa: F401
from leadflow.api.models import ApiToken, IdempotencyKey  # noqa: F401
from leadflow.activities.models import Activity, DigestSchedule, Task  # noqa: F401
from leadflow.capture.models import CaptureForm  # noqa: F401
from leadflow.dashboard.models import MonthlyFigures  # noqa: F401
from leadflow.governance.models import AuditEntry, ExchangeRate, Setting  # noqa: F401
from leadflow.files.models import StoredFile, StoredFileChunk  # noqa: F401
from leadflow.imports.models import ExportJob, ImportJob, ImportRow  # noqa: F401
from leadflow.jobs.models import JobLead  # noqa: F401
from leadflow.leads.models import Lead, LifecycleChange, Tag, lead_tags  # noqa: F401
from leadflow.organizations.models import Organization  # noqa: F401
from leadflow.mail.models import OutboxMessage  # noqa: F401
from leadflow.leads.alert_models import LeadAlert  # noqa: F401
from leadflow.leads.arrival_models import LeadArrival  # noqa: F401
from leadflow.leads.bulk_models import BulkJob  # noqa: F401
from leadflow.leads.merge_models import DuplicateDismissal, LeadMerge  # noqa: F401
from leadflow.leads.review_models import LeadFieldReview  # noqa: F401
from leadflow.pipeline.models import Pipeline, Stage, StageChange, StageCurrencyTotals, StageTotals  # noqa: F401
from leadflow.reports.models import MonthlyTarget  # noqa: F401
from leadflow.sequences.models import EmailTemplate, Enrollment, Sequence, SequenceMessage, SequenceStep  # noqa: F401
from leadflow.scoring.models import RescoreJob, ScoringRule  # noqa: F401
from leadflow.workflows.models import WebhookDelivery, WorkflowFiring, WorkflowRule, WorkflowRun  # noqa: F401
from leadflow.routing.models import RoutingAssignee, RoutingRule  # noqa: F401
from leadflow.reports.models import SourceCost  # noqa: F401
from leadflow.scheduler.heartbeat import SchedulerHeartbeat  # noqa: F401


