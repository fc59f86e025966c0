"""Forms of the timeline and tasks. They carry input and labels; the rules live in services."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import Length

from leadflow.accounts.zones import user_zone
from leadflow.activities.models import CALL_OUTCOMES, TASK_KIND_LABELS
from leadflow.activities.queries import default_due
from leadflow.activities.services import assignable_users, default_assignee_id
from leadflow.web.formatting import in_your_zone, local_input_value
from leadflow.web.forms import select_choices

LOG_KIND_LABELS = {"call": "Call", "email": "Email", "meeting": "Meeting", "note": "Note"}


class ActivityForm(FlaskForm):
    kind = SelectField("What happened", choices=select_choices(LOG_KIND_LABELS.items()), validate_choice=False)
    outcome = SelectField("Call outcome", choices=select_choices([("", "—"), *CALL_OUTCOMES.items()]),
                          validate_choice=False, description="For calls.")
    duration_minutes = StringField("Duration (minutes)", validators=[Length(max=10)],
                                   render_kw={"inputmode": "numeric", "type": "number", "min": "0", "max": "1440"},
                                   description="For calls and meetings.")
    subject = StringField("Subject", validators=[Length(max=200)])
    body = TextAreaField("Notes", validators=[Length(max=10_000)], render_kw={"rows": 3})


class TaskForm(FlaskForm):
    """A next step. Made with ``prefix=task_form_prefix(lead)`` so several can share a page."""

    kind = SelectField("Type", choices=select_choices(TASK_KIND_LABELS.items()), validate_choice=False)
    title = StringField("Next step", validators=[Length(max=200)],
                        render_kw={"placeholder": "e.g. Call about the proposal", "maxlength": "200"})
    due = StringField("Due", validators=[Length(max=30)], render_kw={"type": "datetime-local"})
    assignee_id = SelectField("Assigned to", choices=[], validate_choice=False)
    notes = TextAreaField("Notes (optional)", validators=[Length(max=5000)], render_kw={"rows": 2})


def task_form_prefix(lead_id: int) -> str:
    return f"task{lead_id}"


def task_form(lead, *, assignees, data=None, **defaults) -> TaskForm:
    """The next-step form of one lead, read from ``data`` (a POST) or filled with ``defaults``."""
    form = TaskForm(formdata=data, prefix=task_form_prefix(lead.id), **({} if data is not None else defaults))
    form.assignee_id.choices = select_choices([(str(uid), name) for uid, name in assignees])
    return form


def task_form_data(form: TaskForm) -> dict:
    return {"kind": form.kind.data, "title": form.title.data, "due": form.due.data,
            "assignee_id": form.assignee_id.data, "notes": form.notes.data}


def next_step_form(lead, viewer, now, *, data=None, title: str = "") -> TaskForm:
    """The next-step form for ``lead``: blank on a POST's data, else pre-filled with a call
    tomorrow at 09:00 (the viewer's time), given to the lead's owner or the viewer."""
    assignees = assignable_users()
    zone = user_zone(viewer)
    if data is not None:
        form = task_form(lead, assignees=assignees, data=data)
    else:
        assignee = default_assignee_id(viewer, lead)
        form = task_form(lead, assignees=assignees, kind="call", title=title,
                         due=local_input_value(default_due(viewer, now), zone),
                         assignee_id=str(assignee) if assignee else "")
    form.due.description = in_your_zone(zone, now)
    return form
