"""Every route, every role, the exact answer.

``EXPECTED`` holds one row per method and endpoint of ``app.url_map``: the status each
kind of visitor gets. A route added without a row fails ``test_every_route_has_a_row``, so
the table stays complete. The public routes (capture forms, the API, e-mail links, the
calendar feed) take no session at all and have small checks of their own at the end.

The columns: a visitor who is not signed in, a viewer, a rep on a lead owned by another
rep, a rep on their own lead, a manager and an admin (both on another rep's lead). A
refused request (403, or the way to the sign-in page) must change nothing in the database.
Every request carries the CSRF token, so the answer is the permission's, not the token's.
"""

from __future__ import annotations

import io
import itertools
from datetime import date, timedelta

import pytest
from sqlalchemy import event

from leadflow.accounts.system import SYSTEM
from leadflow.extensions import db
from leadflow.leads.review_models import LeadFieldReview
from tests import factories
from tests.conftest import CsrfClient, csrf_token

COLUMNS = ("anonymous", "viewer", "rep_other", "rep_own", "manager", "admin")

# Routes that take no session (their own checks are below), keyed by endpoint.
PUBLIC_ENDPOINTS = {
    "static": "files under /static/",
    "capture.hosted": "a capture form's page", "capture.submit": "a capture form's submission",
    "capture.token": "a capture form's token for JSON posts", "capture.embed_js": "the embed script",
    "api.list_leads": "REST API (bearer token)", "api.create_leads": "REST API (bearer token)",
    "api.get_lead": "REST API (bearer token)", "api.openapi": "the API description",
    "mail_links.click": "signed click link", "mail_links.open_pixel": "signed open pixel",
    "mail_links.unsubscribe": "signed unsubscribe link", "mail_links.confirm_unsubscribe": "one-click unsubscribe",
    "activities.calendar_feed": "secret calendar address",
    "health.healthz": "health check: no data, no secrets",
}

# "METHOD endpoint": (anonymous, viewer, rep_other, rep_own, manager, admin)
EXPECTED: dict[str, tuple[int, int, int, int, int, int]] = {
    # accounts
    "GET accounts.account": (302, 200, 200, 200, 200, 200),
    "POST accounts.account": (302, 422, 422, 422, 422, 422),
    "GET accounts.edit_user": (302, 403, 403, 403, 403, 200),
    "POST accounts.edit_user": (302, 403, 403, 403, 403, 302),
    "GET accounts.login": (200, 302, 302, 302, 302, 302),
    "POST accounts.login": (422, 302, 302, 302, 302, 302),
    "POST accounts.logout": (302, 303, 303, 303, 303, 303),
    "GET accounts.new_user": (302, 403, 403, 403, 403, 200),
    "POST accounts.new_user": (302, 403, 403, 403, 403, 422),
    "GET accounts.users": (302, 403, 403, 403, 403, 200),
    # activities
    "POST activities.add_next_step": (302, 403, 403, 422, 422, 422),
    "POST activities.complete_task": (302, 403, 403, 303, 303, 303),
    "POST activities.create_task": (302, 403, 403, 422, 422, 422),
    "POST activities.log_activity": (302, 403, 403, 303, 303, 303),
    "GET activities.my_work": (302, 200, 200, 200, 200, 200),
    "POST activities.new_calendar_feed": (302, 200, 200, 200, 200, 200),
    "GET activities.next_step": (302, 403, 403, 200, 200, 200),
    "POST activities.reopen_task": (302, 403, 403, 303, 303, 303),
    "GET activities.reschedule_form": (302, 403, 403, 200, 200, 200),
    "POST activities.reschedule_task": (302, 403, 403, 422, 422, 422),
    "POST activities.revoke_calendar_feed": (302, 200, 200, 200, 200, 200),
    "GET activities.timeline": (302, 200, 200, 200, 200, 200),
    # api_admin
    "POST api_admin.create": (302, 403, 403, 403, 403, 422),
    "GET api_admin.index": (302, 403, 403, 403, 403, 200),
    "POST api_admin.revoke": (302, 403, 403, 403, 403, 303),
    # capture_admin
    "POST capture_admin.delete": (302, 403, 403, 403, 403, 303),
    "GET capture_admin.edit": (302, 403, 403, 403, 403, 200),
    "POST capture_admin.edit": (302, 403, 403, 403, 403, 422),
    "GET capture_admin.index": (302, 403, 403, 403, 403, 200),
    "GET capture_admin.new": (302, 403, 403, 403, 403, 200),
    "POST capture_admin.new": (302, 403, 403, 403, 403, 422),
    "POST capture_admin.preview": (302, 403, 403, 403, 403, 200),
    "POST capture_admin.set_active": (302, 403, 403, 403, 403, 303),
    # dashboard
    "GET dashboard.index": (302, 200, 200, 200, 200, 200),
    "GET dashboard.today_summary": (302, 200, 200, 200, 200, 200),
    "GET dashboard.month": (302, 200, 200, 200, 200, 200),
    # governance
    "POST governance.change_base_currency": (302, 403, 403, 403, 403, 302),
    "GET governance.currency": (302, 403, 403, 403, 403, 200),
    "POST governance.currency": (302, 403, 403, 403, 403, 302),
    "GET governance.settings": (302, 403, 403, 403, 403, 200),
    "POST governance.settings": (302, 403, 403, 403, 403, 302),
    # imports
    "GET imports.detail": (302, 403, 403, 403, 303, 303),
    "POST imports.discard": (302, 403, 403, 403, 303, 303),
    "GET imports.export_detail": (302, 404, 404, 404, 404, 200),  # an admin's export: theirs (or an admin's) alone
    "GET imports.export_download": (302, 404, 404, 404, 404, 200),
    "GET imports.export_leads": (302, 200, 200, 200, 200, 200),
    "GET imports.export_progress": (302, 404, 404, 404, 404, 200),
    "POST imports.queue_export": (302, 303, 303, 303, 303, 303),
    "GET imports.failed_rows": (302, 403, 403, 403, 200, 200),
    "POST imports.file_settings": (302, 403, 403, 403, 422, 422),
    "GET imports.index": (302, 403, 403, 403, 200, 200),
    "GET imports.mapping": (302, 403, 403, 403, 200, 200),
    "GET imports.new": (302, 403, 403, 403, 200, 200),
    "POST imports.new": (302, 403, 403, 403, 422, 422),
    "GET imports.preview": (302, 403, 403, 403, 200, 200),
    "GET imports.progress": (302, 403, 403, 403, 200, 200),
    "POST imports.save_mapping": (302, 403, 403, 403, 422, 422),
    "POST imports.start": (302, 403, 403, 403, 303, 303),
    "GET imports.undo": (302, 403, 403, 403, 200, 200),
    "GET imports.warned_rows": (302, 403, 403, 403, 200, 200),
    "POST imports.undo": (302, 403, 403, 403, 303, 303),
    # leads
    "POST leads.bulk_action": (302, 403, 303, 303, 303, 303),
    "GET leads.bulk_job": (302, 403, 404, 404, 404, 200),  # an admin's bulk action: theirs (or an admin's) alone
    "GET leads.bulk_job_progress": (302, 403, 404, 404, 404, 200),
    "POST leads.check_duplicates": (302, 403, 200, 200, 200, 200),
    "POST leads.delete": (302, 403, 403, 303, 303, 303),
    "GET leads.detail": (302, 200, 200, 200, 200, 200),
    "POST leads.dismiss_duplicate": (302, 403, 403, 303, 303, 303),
    "GET leads.duplicates": (302, 200, 200, 200, 200, 200),
    "GET leads.edit_field": (302, 403, 403, 200, 200, 200),
    "GET leads.custom_field": (302, 200, 200, 200, 200, 200),
    "GET leads.edit_custom_field": (302, 403, 403, 200, 200, 200),
    "POST leads.update_custom_field": (302, 403, 403, 303, 303, 303),
    "POST leads.remove_custom_field": (302, 403, 403, 303, 303, 303),
    "POST leads.add_custom_field": (302, 403, 403, 303, 303, 303),
    "GET leads.field": (302, 200, 200, 200, 200, 200),
    "GET leads.history": (302, 200, 200, 200, 200, 200),
    "GET leads.index": (302, 200, 200, 200, 200, 200),
    "POST leads.merge_leads": (302, 403, 403, 303, 303, 303),
    "GET leads.merge_page": (302, 403, 403, 200, 200, 200),
    "GET leads.new": (302, 403, 200, 200, 200, 200),
    "POST leads.new": (302, 403, 422, 422, 422, 422),
    "POST leads.restore": (302, 403, 403, 303, 303, 303),
    "GET leads.trash": (302, 200, 200, 200, 200, 200),
    "POST leads.undo_merge": (302, 403, 403, 303, 303, 303),
    "POST leads.update_field": (302, 403, 403, 200, 200, 200),
    "POST leads.resolve_review": (302, 403, 403, 303, 303, 303),
    # mail
    "GET mail.detail": (302, 403, 403, 403, 403, 200),
    "GET mail.index": (302, 403, 403, 403, 403, 200),
    "POST mail.delivered": (302, 403, 403, 403, 403, 303),
    "POST mail.retry": (302, 403, 403, 403, 403, 303),
    "POST mail.retry_failing": (302, 403, 403, 403, 403, 303),
    # organizations
    "POST organizations.delete": (302, 403, 403, 403, 303, 303),
    "GET organizations.detail": (302, 200, 200, 200, 200, 200),
    "GET organizations.edit": (302, 403, 200, 200, 200, 200),
    "POST organizations.edit": (302, 403, 409, 409, 409, 409),
    "GET organizations.index": (302, 200, 200, 200, 200, 200),
    "GET organizations.new": (302, 403, 200, 200, 200, 200),
    "POST organizations.new": (302, 403, 422, 422, 422, 422),
    "POST organizations.restore": (302, 403, 403, 403, 303, 303),
    "GET organizations.trash": (302, 200, 200, 200, 200, 200),
    # pipeline
    "GET pipeline.board_page": (302, 200, 200, 200, 200, 200),
    "GET pipeline.card_fields": (302, 403, 403, 403, 403, 200),
    "POST pipeline.card_fields": (302, 403, 403, 403, 403, 303),
    "GET pipeline.forecast": (302, 200, 200, 200, 200, 200),
    "GET pipeline.more_cards": (302, 200, 200, 200, 200, 200),
    "POST pipeline.move": (302, 403, 403, 200, 200, 200),
    "GET pipeline.move_control": (302, 403, 403, 200, 200, 200),
    "GET pipeline.stamp": (302, 200, 200, 200, 200, 200),
    # pipeline_admin
    "POST pipeline_admin.add_stage": (302, 403, 403, 403, 422, 422),
    "POST pipeline_admin.archive": (302, 403, 403, 403, 422, 422),
    "GET pipeline_admin.confirm_delete_stage": (302, 403, 403, 403, 200, 200),
    "POST pipeline_admin.create": (302, 403, 403, 403, 422, 422),
    "POST pipeline_admin.delete_stage": (302, 403, 403, 403, 422, 422),
    "GET pipeline_admin.edit_stage": (302, 403, 403, 403, 200, 200),
    "GET pipeline_admin.index": (302, 403, 403, 403, 200, 200),
    "POST pipeline_admin.make_default": (302, 403, 403, 403, 303, 303),
    "POST pipeline_admin.move": (302, 403, 403, 403, 422, 422),
    "POST pipeline_admin.move_stage": (302, 403, 403, 403, 422, 422),
    "POST pipeline_admin.rename": (302, 403, 403, 403, 422, 422),
    "GET pipeline_admin.stage_row": (302, 403, 403, 403, 200, 200),
    "POST pipeline_admin.unarchive": (302, 403, 403, 403, 303, 303),
    "POST pipeline_admin.update_stage": (302, 403, 403, 403, 422, 422),
    # routing
    "POST routing.delete_rule": (302, 403, 403, 403, 403, 303),
    "GET routing.edit_rule": (302, 403, 403, 403, 403, 200),
    "POST routing.edit_rule": (302, 403, 403, 403, 403, 422),
    "GET routing.index": (302, 403, 403, 403, 403, 200),
    "POST routing.move_rule": (302, 403, 403, 403, 403, 303),
    "GET routing.new_rule": (302, 403, 403, 403, 403, 200),
    "POST routing.new_rule": (302, 403, 403, 403, 403, 422),
    "POST routing.set_fallback": (302, 403, 403, 403, 403, 303),
    "POST routing.toggle_rule": (302, 403, 403, 403, 403, 303),
    # reports
    "GET reports.funnel": (302, 200, 200, 200, 200, 200),
    "GET reports.funnel_csv": (302, 200, 200, 200, 200, 200),
    "GET reports.index": (302, 200, 200, 200, 200, 200),
    "GET reports.thumbnail": (302, 200, 200, 200, 200, 200),
    "GET reports.speed_to_lead": (302, 200, 200, 200, 200, 200),
    "GET reports.speed_to_lead_csv": (302, 200, 200, 200, 200, 200),
    "GET reports.activity": (302, 200, 200, 200, 200, 200),
    "GET reports.activity_csv": (302, 200, 200, 200, 200, 200),
    "GET reports.data_quality": (302, 200, 200, 200, 200, 200),
    "GET reports.data_quality_csv": (302, 200, 200, 200, 200, 200),
    "GET reports.data_quality_review": (302, 200, 200, 200, 200, 200),
    "GET reports.sources": (302, 200, 200, 200, 200, 200),
    "GET reports.sources_csv": (302, 200, 200, 200, 200, 200),
    # source_costs
    "POST source_costs.delete": (302, 403, 403, 403, 403, 303),
    "GET source_costs.index": (302, 403, 403, 403, 403, 200),
    "POST source_costs.save": (302, 403, 403, 403, 403, 422),
    "GET reports.forecast": (302, 200, 200, 200, 200, 200),
    "GET reports.forecast_csv": (302, 200, 200, 200, 200, 200),
    "GET reports.time_in_stage": (302, 200, 200, 200, 200, 200),
    "GET reports.time_in_stage_csv": (302, 200, 200, 200, 200, 200),
    "GET reports.velocity": (302, 200, 200, 200, 200, 200),
    "GET reports.velocity_csv": (302, 200, 200, 200, 200, 200),
    # scoring
    "GET scoring.calibration": (302, 403, 403, 403, 200, 200),
    "POST scoring.delete_rule": (302, 403, 403, 403, 403, 303),
    "GET scoring.edit_rule": (302, 403, 403, 403, 403, 200),
    "POST scoring.edit_rule": (302, 403, 403, 403, 403, 303),
    "GET scoring.index": (302, 403, 403, 403, 403, 200),
    "GET scoring.job_progress": (302, 403, 403, 403, 403, 200),
    "POST scoring.move_rule": (302, 403, 403, 403, 403, 303),
    "GET scoring.new_rule": (302, 403, 403, 403, 403, 200),
    "POST scoring.new_rule": (302, 403, 403, 403, 403, 422),
    "POST scoring.rescore_all": (302, 403, 403, 403, 403, 303),
    "POST scoring.save_thresholds": (302, 403, 403, 403, 403, 422),
    "POST scoring.set_rule_active": (302, 403, 403, 403, 403, 303),
    # sequences
    "POST sequences.add_step": (302, 403, 403, 403, 303, 303),
    "POST sequences.create": (302, 403, 403, 403, 422, 422),
    "POST sequences.delete": (302, 403, 403, 403, 303, 303),
    "POST sequences.delete_template": (302, 403, 403, 403, 303, 303),
    "GET sequences.edit": (302, 200, 200, 200, 200, 200),
    "GET sequences.edit_template": (302, 403, 403, 403, 200, 200),
    "POST sequences.edit_template": (302, 403, 403, 403, 422, 422),
    "POST sequences.enrol": (302, 403, 403, 303, 303, 303),
    "GET sequences.index": (302, 200, 200, 200, 200, 200),
    "POST sequences.move_step": (302, 403, 403, 403, 303, 303),
    "GET sequences.new_template": (302, 403, 403, 403, 200, 200),
    "POST sequences.new_template": (302, 403, 403, 403, 422, 422),
    "POST sequences.preview_template": (302, 403, 403, 403, 200, 200),
    "POST sequences.remove_step": (302, 403, 403, 403, 303, 303),
    "POST sequences.stop": (302, 403, 403, 303, 303, 303),
    "GET sequences.templates": (302, 403, 403, 403, 200, 200),
    "POST sequences.update": (302, 403, 403, 403, 422, 422),
    # targets (monthly targets, under settings)
    "POST targets.delete": (302, 403, 403, 403, 403, 303),
    "GET targets.index": (302, 403, 403, 403, 403, 200),
    "POST targets.save": (302, 403, 403, 403, 403, 422),
    # workflows
    "POST workflows.delete": (302, 403, 403, 403, 403, 303),
    "GET workflows.edit": (302, 403, 403, 403, 403, 200),
    "POST workflows.edit": (302, 403, 403, 403, 403, 422),
    "GET workflows.index": (302, 403, 403, 403, 403, 200),
    "GET workflows.new": (302, 403, 403, 403, 403, 200),
    "POST workflows.new": (302, 403, 403, 403, 403, 422),
    "POST workflows.retry_delivery": (302, 403, 403, 403, 403, 303),
    "GET workflows.runs": (302, 403, 403, 403, 403, 200),
    "POST workflows.set_active": (302, 403, 403, 403, 403, 303),
}

# Requests whose body must be real for the permission to be what decides (an empty one
# would be refused for a missing field before anyone's rights were looked at).
BODIES = {
    "governance.currency": lambda s: {"rate-EUR": "1.0834"},
    "governance.change_base_currency": lambda s: {"base_currency": "EUR"},
    "leads.update_field": lambda s: {"value": "changed@example.com"},
    "leads.update_custom_field": lambda s: {"value": "Platinum"},
    "leads.add_custom_field": lambda s: {"key": "Preferred contact time", "value": "Mornings"},
    "pipeline.move": lambda s: {"lead_id": s["lead_id"], "stage_id": s["next_stage_id"]},
    "sequences.enrol": lambda s: {"sequence_id": s["sequence_id"]},
    "leads.merge_leads": lambda s: {"with": s["partner_id"]},
    "leads.dismiss_duplicate": lambda s: {"first": s["lead_id"], "second": s["partner_id"]},
    "leads.bulk_action": lambda s: {"action": "reassign", "lead_ids": [s["lead_id"]], "assignee": s["user_id"]},
    "activities.log_activity": lambda s: {"kind": "note", "subject": "Spoke to them"},
}
# Query strings some endpoints need.
QUERIES = {"pipeline.more_cards": {"after": "0:0"}, "leads.custom_field": {"key": "plan"},
           "leads.edit_custom_field": {"key": "plan"}, "leads.update_custom_field": {"key": "plan"},
           "leads.remove_custom_field": {"key": "plan"}}
# A rep's refusal on these is a message on the list (the bulk bar names the leads left
# alone), not a 403; still nothing may change.
REFUSED_IN_A_MESSAGE = {("POST leads.bulk_action", "rep_other")}
# Signing out ends the session the other requests need: it goes last.
LAST = {"POST accounts.logout"}

_seq = itertools.count(1)


def _rows(app):
    """(key, rule, method) for every rule and method the table covers, sign-out last."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((f"{method} {rule.endpoint}", rule, method))
    return sorted(found, key=lambda row: (row[0] in LAST, row[1].rule, row[0]))


class Samples:
    """One row of each kind a URL or body points at, made when first asked for. The leads
    (and their task, merge and enrolment) belong to ``owner``. A permitted change may use a
    row up (a deletion, a merge): ``renew()`` forgets the kinds read since the last call, so
    the next request gets fresh ones, and leaves the rest, which keeps the run short."""

    def __init__(self, owner, admin):
        self.owner, self.admin = owner, admin
        self.values: dict[str, int | str] = {}
        self.read: set[str] = set()

    def __getitem__(self, key):
        group = _GROUP_OF[key]
        if key not in self.values:
            self.values.update(getattr(self, f"_make_{group}")(next(_seq)))
            db.session.commit()
        self.read.add(key)
        return self.values[key]

    def renew(self) -> None:
        stale = {_GROUP_OF[key] for key in self.read}
        self.values = {k: v for k, v in self.values.items() if _GROUP_OF[k] not in stale}
        self.read = set()

    # -- one method per group of rows made together -----------------------------------------

    def _make_fixed(self, n):
        return {"name": "email", "field": "email", "action": "keep", "slug": "funnel"}

    def _make_pipeline(self, n):
        from leadflow.pipeline.services import ensure_default_pipeline

        pipeline = ensure_default_pipeline()
        return {"pipeline_id": pipeline.id, "stage_id": pipeline.stages[0].id, "next_stage_id": pipeline.stages[1].id}

    def _make_lead(self, n):
        from leadflow.activities.models import Task
        from leadflow.db import utcnow

        lead = factories.make_lead(owner_id=self.owner.id, marketing_consent=True)
        lead.custom_fields = {"plan": "Gold"}
        partner = factories.make_lead(owner_id=self.owner.id)
        task = Task(lead_id=lead.id, title="Call back", due_at=utcnow() + timedelta(days=1),
                    assignee_id=self.owner.id, created_by_id=self.owner.id)
        db.session.add(task)
        review = LeadFieldReview(lead_id=lead.id, field="title", submitted_value="Chief Tester", value_key="x" * 64,
                                 current_value=None, source="Capture form “Sample”")
        db.session.add(review)
        db.session.flush()
        return {"lead_id": lead.id, "partner_id": partner.id, "task_id": task.id, "review_id": review.id}

    def _make_merge(self, n):
        from leadflow.leads import merge

        survivor, absorbed = (factories.make_lead(owner_id=self.owner.id) for _ in range(2))
        return {"merge_id": merge.merge_leads(self.admin, survivor, absorbed, {}).id}

    def _make_org(self, n):
        return {"org_id": factories.make_org(f"Sample Org {n}").id}

    def _make_user(self, n):
        return {"user_id": factories.make_user(role="rep").id}

    def _make_sequence(self, n):
        from leadflow.sequences import services as sequences

        template = sequences.create_template(self.admin, {"name": f"Welcome {n}", "subject": "Hello", "body": "Hi"})
        sequence = sequences.create_sequence(self.admin, {"name": f"Nurture {n}", "active": "y"})
        step = sequences.add_step(self.admin, sequence, {"kind": "send", "template_id": template.id})
        sequences.add_step(self.admin, sequence, {"kind": "task", "task_title": "Call"})
        return {"template_id": template.id, "sequence_id": sequence.id, "step_id": step.id}

    def _make_enrollment(self, n):
        from leadflow.sequences import services as sequences
        from leadflow.sequences.models import Sequence

        lead = factories.make_lead(owner_id=self.owner.id, marketing_consent=True)
        sequence = db.session.get(Sequence, self["sequence_id"])
        return {"enrollment_id": sequences.enroll(lead, sequence, SYSTEM).id}

    def _make_job(self, n):
        from leadflow.imports.services import create_job

        job = create_job(self.admin, io.BytesIO(b"email,first_name\nann@example.com,Ann\n"), "leads.csv")
        return {"imports.job_id": job.id}

    def _make_bulk(self, n):
        from leadflow.leads.bulk_models import BulkJob

        # Still running (done, its page hands over to the list: tests/leads/test_bulk_jobs.py).
        job = BulkJob(action="reassign", lead_ids=[], form_data={}, status="running", created_by_id=self.admin.id)
        db.session.add(job)
        db.session.flush()
        return {"bulk_id": job.id}

    def _make_export(self, n):
        from leadflow.files import store as files
        from leadflow.imports.models import ExportJob

        stored = files.create("export", "leads.csv", "text/csv", self.admin.id)
        files.append(stored.id, 0, b"\xef\xbb\xbfID\r\n")
        files.finish(stored.id)
        job = ExportJob(status="done", file_id=stored.id, created_by_id=self.admin.id)
        db.session.add(job)
        db.session.flush()
        return {"export_id": job.id}

    def _make_token(self, n):
        from leadflow.api.services import create_token

        return {"token_id": create_token(factories.TEST_SETUP, user=self.owner, name=f"Program {n}", scopes="read")[0].id}

    def _make_form(self, n):
        from leadflow.capture import services as capture_services
        from tests.capture.conftest import builder_data

        form = capture_services.create_form(self.admin, builder_data(name=f"Contact {n}", slug=f"contact-{n}"))
        return {"form_id": form.id}

    def _make_message(self, n):
        from leadflow.mail.models import OutboxMessage

        message = OutboxMessage(to_address="ann@example.com", kind="task_reminder", subject="Due", text_body="Due",
                                idempotency_key=f"sample-{n}")
        db.session.add(message)
        db.session.flush()
        return {"message_id": message.id}

    def _make_routing(self, n):
        from leadflow.routing import services as routing

        rule = routing.create_rule(SYSTEM, {"name": f"Route {n}", "target_kind": "user",
                                            "target_user_id": self.admin.id})
        return {"routing.rule_id": rule.id}

    def _make_scoring(self, n):
        from leadflow.scoring.models import RescoreJob, ScoringRule

        # Paused rules, so the leads made later are not scored by a pile of them.
        rule = ScoringRule(name=f"Score {n}", category="fit", active=False, points=10, position=n,
                           field="title", operator="contains", value="director")
        job = RescoreJob()
        db.session.add_all([rule, job])
        db.session.flush()
        return {"scoring.rule_id": rule.id, "scoring.job_id": job.id}

    def _make_cost(self, n):
        from leadflow.reports.models import SourceCost

        cost = SourceCost(source="event", month=date(2000 + n, 1, 1), amount_cents=100, currency="USD")
        db.session.add(cost)
        db.session.flush()
        return {"cost_id": cost.id}

    def _make_workflow(self, n):
        from leadflow.workflows.models import WebhookDelivery, WorkflowRule

        rule = WorkflowRule(name=f"Flow {n}", active=False, trigger="lead_created", trigger_config={},
                            conditions=[], actions=[], secret="s3cret")
        db.session.add(rule)
        db.session.flush()
        delivery = WebhookDelivery(rule_id=rule.id, url="https://example.com/hook", payload="{}",
                                   delivery_key=f"sample-{n}")
        db.session.add(delivery)
        db.session.flush()
        return {"workflows.rule_id": rule.id, "delivery_id": delivery.id}

    def _make_target(self, n):
        from datetime import date

        from leadflow.reports.models import MonthlyTarget

        target = MonthlyTarget(month=date(2026, 1 + n % 12, 1), pipeline_id=None, amount_cents=100 * n, currency="USD")
        db.session.add(target)
        db.session.flush()
        return {"target_id": target.id}


_GROUPS = {
    "fixed": ("name", "field", "action", "slug"), "pipeline": ("pipeline_id", "stage_id", "next_stage_id"),
    "lead": ("lead_id", "partner_id", "task_id", "review_id"), "merge": ("merge_id",), "org": ("org_id",),
    "user": ("user_id",), "sequence": ("template_id", "sequence_id", "step_id"), "enrollment": ("enrollment_id",),
    "job": ("imports.job_id",), "bulk": ("bulk_id",), "export": ("export_id",), "token": ("token_id",), "form": ("form_id",), "message": ("message_id",),
    "routing": ("routing.rule_id",), "scoring": ("scoring.rule_id", "scoring.job_id"),
    "workflow": ("workflows.rule_id", "delivery_id"), "cost": ("cost_id",), "target": ("target_id",),
}
_GROUP_OF = {key: group for group, keys in _GROUPS.items() for key in keys}
# The rows whose owner makes the difference between a rep's own lead and another rep's.
OWNED = {key for group in ("lead", "merge", "enrollment", "token") for key in _GROUPS[group]}


class CommittedWrites:
    """The INSERT, UPDATE and DELETE statements the database committed while watching: a
    refused request must commit none. (Cheaper than reading every table before and after
    each of several hundred requests, and exact: a write that was rolled back changed nothing.)"""

    def __init__(self, engine):
        self.engine, self.pending, self.committed = engine, {}, []

    def _execute(self, conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            self.pending.setdefault(id(conn), []).append(" ".join(statement.split()[:4]))

    def _commit(self, conn):
        self.committed += self.pending.pop(id(conn), [])

    def _rollback(self, conn):
        self.pending.pop(id(conn), None)

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._execute)
        event.listen(self.engine, "commit", self._commit)
        event.listen(self.engine, "rollback", self._rollback)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._execute)
        event.remove(self.engine, "commit", self._commit)
        event.remove(self.engine, "rollback", self._rollback)


def _url(app, rule, samples) -> str:
    from flask import url_for

    blueprint = rule.endpoint.rsplit(".", 1)[0]
    keys = {arg: f"{blueprint}.{arg}" if f"{blueprint}.{arg}" in _GROUP_OF else arg for arg in rule.arguments}
    missing = [key for key in keys.values() if key not in _GROUP_OF]
    assert not missing, f"{rule.endpoint}: no sample for {missing}; add one to Samples"
    values = {arg: samples[key] for arg, key in keys.items()}
    with app.test_request_context():
        return url_for(rule.endpoint, **values, **QUERIES.get(rule.endpoint, {}))


def _refused(column: str, status: int, response) -> bool:
    if column == "anonymous":
        return status == 401 or (status == 302 and "/login" in response.headers.get("Location", ""))
    return status == 403


def test_every_route_has_a_row(app):
    keys = {key for key, _, _ in _rows(app)}
    missing = sorted(keys - EXPECTED.keys())
    assert not missing, "routes without a row in EXPECTED (add the status each role should get):\n" + "\n".join(
        missing)
    assert not sorted(EXPECTED.keys() - keys), "rows in EXPECTED for routes that no longer exist"
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert set(PUBLIC_ENDPOINTS) <= endpoints, "a public endpoint listed here no longer exists"


@pytest.mark.parametrize("column", COLUMNS)
def test_every_route_answers_each_role_exactly(app, client, make_user, login_as, column):
    admin = make_user(role="admin")
    other_rep = make_user(role="rep")
    if column == "anonymous":
        actor, http = None, CsrfClient(client)
        token = csrf_token(client)
    else:
        actor, http = login_as(column.split("_")[0])
        token = http.token()
    owner = actor if column == "rep_own" else other_rep
    samples = Samples(owner, admin)
    failures = []
    for key, rule, method in _rows(app):
        samples.read = set()
        url = _url(app, rule, samples)
        body = BODIES.get(rule.endpoint, lambda s: {})(samples) if method != "GET" else None
        expected = EXPECTED.get(key, (None,) * len(COLUMNS))[COLUMNS.index(column)]
        if column == "rep_own" and not samples.read & OWNED:
            # Nothing of the rep's own is involved: the answer is the rep_other column's.
            if expected != EXPECTED[key][COLUMNS.index("rep_other")]:
                failures.append(f"{key}: rep_own and rep_other differ, but no lead of the rep's is involved")
            continue
        refusal_expected = expected == 403 or column == "anonymous" or (key, column) in REFUSED_IN_A_MESSAGE
        db.session.commit()  # what the samples made is in before the watch starts
        with CommittedWrites(db.engine) as writes:
            response = http.client.open(url, method=method, data=body,
                                        headers={"X-CSRFToken": token} if method != "GET" else {})
        status = response.status_code
        if status != expected:
            failures.append(f"{method} {url} ({key}) as {column}: {status}, expected {expected}")
        elif column == "anonymous" and status == 302 and "/login" not in response.headers["Location"]:
            failures.append(f"{method} {url} as {column}: sent to {response.headers['Location']}, not to sign in")
        if refusal_expected and writes.committed:
            failures.append(f"{method} {url} as {column}: answered {status}, a refusal, and wrote {writes.committed}")
        elif method != "GET" and not _refused(column, status, response):
            samples.renew()  # a permitted change may have used its rows up
    assert not failures, "\n".join(failures)


# --- the public routes ------------------------------------------------------------------

# Without credentials, or with forged ones, each public route answers exactly this and
# writes nothing. (Their working paths are tested in tests/api, tests/capture, tests/sequences
# and tests/activities.)
PUBLIC_REQUESTS = [
    ("GET", "/static/favicon.svg", 200),
    ("GET", "/f/no-such-form", 404),
    ("POST", "/f/no-such-form", 404),
    ("GET", "/f/no-such-form/token", 404),
    ("GET", "/f/no-such-form/embed.js", 404),
    ("GET", "/api/v1/openapi.json", 200),
    ("GET", "/api/v1/leads", 401),
    ("POST", "/api/v1/leads", 401),
    ("GET", "/api/v1/leads/1", 401),
    ("GET", "/m/c/forged-token", 404),
    ("GET", "/m/o/forged-token.gif", 404),
    ("GET", "/m/u/forged-token", 404),
    ("POST", "/m/u/forged-token", 404),
    ("GET", "/calendar/not-a-real-secret.ics", 404),
    ("GET", "/healthz", 200),
]


def test_every_public_route_has_a_check(app):
    adapter = app.url_map.bind("localhost")
    checked = {adapter.match(path, method=method)[0] for method, path, _ in PUBLIC_REQUESTS}
    assert checked == set(PUBLIC_ENDPOINTS)


def test_public_routes_refuse_missing_or_forged_credentials(app, client, make_lead):
    make_lead()  # a lead 1 to ask the API for
    db.session.commit()
    failures = []
    for method, path, expected in PUBLIC_REQUESTS:
        headers = {"Authorization": "Bearer lf_forged_token"} if path.startswith("/api/v1/leads") else {}
        for auth in ({}, headers) if headers else ({},):
            with CommittedWrites(db.engine) as writes:
                response = client.open(path, method=method, headers=auth, json={} if method == "POST" else None)
                response.close()  # a static file is streamed from an open file
            if response.status_code != expected:
                failures.append(f"{method} {path} {auth}: {response.status_code}, expected {expected}")
            if writes.committed:
                failures.append(f"{method} {path} {auth}: wrote {writes.committed}")
    assert not failures, "\n".join(failures)
