"""The lead page: its fields, history, reviews and duplicates, and the lead's activities and
next steps. It puts the lead and activities areas together, so it sits above both, with the
pages that render it (the lead views and the activity views)."""

from __future__ import annotations

from datetime import datetime, timezone

from leadflow.accounts.models import User
from leadflow.activities.forms import ActivityForm, next_step_form
from leadflow.activities.queries import (
    LEAD_TASKS, RECENTLY_DONE, lead_activity_context, timeline_kind_of, timeline_rows)
from leadflow.db import read_together
from leadflow.governance.audit import HISTORY
from leadflow.leads.custom_fields import custom_field_rows, history_labels
from leadflow.leads.duplicates import duplicates_of
from leadflow.leads.fields import CUSTOM_KEY_MAX, CUSTOM_VALUE_MAX
from leadflow.leads.forms import CONTACT_FIELDS, DEAL_FIELDS, INLINE_FIELDS, SOURCE_FIELDS, current_input_value
from leadflow.leads.models import Lead
from leadflow.leads.policy import can_edit_lead
from leadflow.leads.reviews import OPEN_REVIEWS
from leadflow.sequences.queries import LEAD_ENROLLMENTS, sequence_panel


def lead_detail_context(lead: Lead, viewer: User, *, timeline_kind: str = "", now: datetime | None = None,
                        **overrides) -> dict:
    """The lead page, whole or any of its fragments (fields, history, timeline, next steps).
    ``overrides`` replace parts, such as a form coming back with its errors."""
    now = now or datetime.now(timezone.utc)
    can_edit = can_edit_lead(viewer, lead)
    timeline_kind = timeline_kind_of(timeline_kind)
    # The page's lists in one statement (one round trip instead of five); the values waiting
    # for review only for someone who may settle them.
    timeline, timeline_values = timeline_rows(timeline_kind)
    lead_history, entries, tasks, enrollments, *field_reviews = read_together(
        HISTORY, timeline, LEAD_TASKS, LEAD_ENROLLMENTS, *([OPEN_REVIEWS] if can_edit else []),
        entity_type="lead", entity_id=lead.id, lead_id=lead.id, done_since=now - RECENTLY_DONE, **timeline_values)
    context = {
        "lead": lead,
        "inline_fields": INLINE_FIELDS, "contact_fields": CONTACT_FIELDS, "deal_fields": DEAL_FIELDS,
        "source_fields": SOURCE_FIELDS, "input_value": current_input_value,
        "editing": False, "errors": [], "message": None, "conflict": False, "choices": [],
        "can_edit": can_edit,
        "custom_fields": custom_field_rows(lead), "custom_key_max": CUSTOM_KEY_MAX,
        "custom_value_max": CUSTOM_VALUE_MAX,
        "field_reviews": field_reviews[0] if can_edit else [],
        "history": lead_history,
        "labels": history_labels(lead_history),
        "duplicates": duplicates_of(lead, limit=5),
        "sequence_panel": sequence_panel(enrollments),
        **lead_activity_context(lead, viewer, now, timeline_kind, entries, tasks),
    }
    if can_edit:
        context.setdefault("activity_form", ActivityForm(formdata=None))
        context.setdefault("task_form", next_step_form(lead, viewer, now))
    context.update(overrides)
    return context
