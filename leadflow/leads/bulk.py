"""Bulk actions on the lead list, in one registry: add an action with ``register_bulk_action``.
They run as jobs (the ``bulk`` kind of ``leadflow.jobs``).

They sit with the pages (``tests/test_layers.py``): an action hands the ticked leads to the
area that does the work (routing reassigns, sequences enrol).

An action has a ``check(actor, form_data)`` that refuses a bad form (ValidationFailed) before
the job is queued, and a ``handler(actor, leads, form_data, so_far)`` that gets one batch of
live leads, checks each lead itself (a refusal is reported, never fatal), flushes, and returns
a BulkResult; ``so_far`` is what the earlier batches added up to (``BulkResult.as_dict``).

The job (``BulkJob``): the request checks the form, queues the row with the ticked ids (at
most ``MAX_SELECTED``) or the list's filter (at most ``MAX_FILTERED`` matching leads), commits,
and calls ``leadflow.jobs.runner.start``. The claim sets it running; ``work`` first writes the
leads it works over (``leadflow.jobs.snapshot``, by id, so a filter's set is the one it matched
when the job started), then handles ``BATCH_LEADS`` leads at a time, each batch committed with
its cursor (``position``), its progress and the added-up result through ``leases.renew``: a job
taken over after its worker died goes on after the last committed batch, and a batch whose
lease was lost is rolled back, so no lead is done twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from leadflow.accounts.models import Team, User
from leadflow.accounts.services import WRITER_ROLES, menu_teams, menu_users
from leadflow.db import parse_id, tidy_after_bulk_write, utcnow
from leadflow.errors import DomainError, ValidationFailed
from leadflow.extensions import db
from leadflow.jobs import leases, snapshot
from leadflow.jobs import runner as jobs
from leadflow.jobs.access import job_for
from leadflow.jobs.models import ACTIVE_STATUSES
from leadflow.leads.bulk_models import BulkJob
from leadflow.leads.models import Lead
from leadflow.leads.policy import can_edit_lead
from leadflow.leads.queries import LeadFilters, filtered_leads
from leadflow.leads.services import delete_lead
from leadflow.routing.services import assign_lead, team_round_robin
from leadflow.sequences.services import enroll_many
from leadflow.sequences.templates import marketing_skip_reason

KIND = "bulk"
MAX_SELECTED = 500
MAX_FILTERED = 100_000
BATCH_LEADS = 100
NAMES_KEPT = 6  # names kept per reason in a job's result: the summary shows five and "…"


@dataclass
class BulkResult:
    changed: int = 0
    unchanged: int = 0
    refused: list[str] = field(default_factory=list)  # names of leads the actor may not change
    skipped: dict[str, list[str]] = field(default_factory=dict)  # reason -> names of leads left alone
    unchanged_label: str = "already matched"  # "1 already matched."

    def skip(self, lead: Lead, reason: str) -> None:
        self.skipped.setdefault(reason, []).append(lead.name)

    def as_dict(self, so_far: dict | None = None) -> dict:
        """This result added to ``so_far`` (an earlier ``as_dict``): counts, and the first
        ``NAMES_KEPT`` names of each kind of lead left alone (JSON for the job row)."""
        so_far = so_far or {}

        def names(kept: dict | None, more: list[str]) -> dict:
            kept = kept or {"count": 0, "names": []}
            return {"count": kept["count"] + len(more), "names": (kept["names"] + more)[:NAMES_KEPT]}

        skipped = dict(so_far.get("skipped", {}))
        for reason, more in self.skipped.items():
            skipped[reason] = names(skipped.get(reason), more)
        return {"changed": so_far.get("changed", 0) + self.changed,
                "unchanged": so_far.get("unchanged", 0) + self.unchanged,
                "unchanged_label": self.unchanged_label,
                "refused": names(so_far.get("refused"), self.refused), "skipped": skipped}

    def summary(self, verb: str) -> str:
        return summary_text(verb, self.as_dict())


def summary_text(verb: str, result: dict) -> str:
    """"Reassigned 3 leads. 1 skipped (…): names." from a result (``BulkResult.as_dict``)."""
    changed = result.get("changed", 0)
    parts = [f"{verb} {changed} lead{'' if changed == 1 else 's'}."]
    if result.get("unchanged"):
        parts.append(f"{result['unchanged']} {result.get('unchanged_label', 'already matched')}.")
    for reason, kept in result.get("skipped", {}).items():
        parts.append(f"{kept['count']} skipped ({reason}): {_names(kept)}.")
    refused = result.get("refused") or {"count": 0}
    if refused["count"]:
        parts.append(f"{refused['count']} not changed because you cannot edit them: {_names(refused)}.")
    return " ".join(parts)


def _names(kept: dict) -> str:
    return ", ".join(kept["names"][:5]) + (" …" if kept["count"] > 5 else "")


@dataclass(frozen=True)
class BulkAction:
    name: str
    label: str
    verb: str  # for the flash: "Reassigned 3 leads."
    fields: tuple[str, ...]  # the form fields it reads, kept with the job
    check: Callable[[object, dict], None]
    handler: Callable[[object, list[Lead], dict, dict], BulkResult]


BULK_ACTIONS: dict[str, BulkAction] = {}


def register_bulk_action(name: str, label: str, verb: str, *, fields: tuple[str, ...] = (),
                         check: Callable[[object, dict], None] = lambda actor, form_data: None):
    def add(handler):
        BULK_ACTIONS[name] = BulkAction(name, label, verb, fields, check, handler)
        return handler

    return add


# --- the job -------------------------------------------------------------------------------

def _ticked_ids(raw_ids) -> list[int]:
    ids = {lead_id for lead_id in map(parse_id, raw_ids) if lead_id is not None}
    if not ids:
        raise ValidationFailed({"lead_ids": ["Select at least one lead."]})
    if len(ids) > MAX_SELECTED:
        raise ValidationFailed({"lead_ids": [f"Select at most {MAX_SELECTED} leads at a time, or choose "
                                             "“all leads matching this filter”."]})
    return sorted(ids)


def _filtered_ids(actor, filter_query: str):
    """SELECT of the ids of the live leads the list filter matches for ``actor``, by id."""
    filters = LeadFilters.from_args(MultiDict(parse_qsl(filter_query or "")))
    return filtered_leads(filters, actor).with_only_columns(Lead.id).order_by(Lead.id)


def _too_many_message(count_label: str) -> str:
    return (f"This filter matches {count_label} leads; a bulk action works on at most {MAX_FILTERED:,} at a "
            "time. Narrow the filter (by owner, source, stage or date) and apply it to each part.")


def queue_bulk_job(actor, name: str, raw_ids, form_data, *, filter_query: str | None = None,
                   return_query: str = "", return_to: str = "") -> BulkJob:
    """Check the action and its form, then add its job over the ticked ``raw_ids`` or, with
    ``filter_query`` (the list's query string), every lead that filter matches; the caller
    commits and starts it. ``return_query`` (the list's filters) or ``return_to`` (the path of
    another page the action was started from) is where its outcome is shown."""
    action = BULK_ACTIONS.get(name)
    if action is None:
        raise ValidationFailed({"action": ["Choose an action."]})
    if filter_query is None:
        ids, total = _ticked_ids(raw_ids), None
    else:
        ids = None
        matching = _filtered_ids(actor, filter_query).order_by(None).limit(MAX_FILTERED + 1).subquery()
        total = db.session.scalar(select(func.count()).select_from(matching))
        if not total:
            raise ValidationFailed({"lead_ids": ["No leads match this filter."]})
        if total > MAX_FILTERED:
            raise ValidationFailed({"lead_ids": [_too_many_message(f"more than {MAX_FILTERED:,}")]})
    action.check(actor, form_data)
    job = BulkJob(action=name, lead_ids=ids, filter_query=filter_query, status="queued",
                  form_data={**{key: str(form_data.get(key) or "") for key in action.fields},
                             "return_query": return_query[:2000], "return_to": return_to[:2000]},
                  total=len(ids) if ids is not None else total, done=0, position=-1, result={},
                  created_by_id=actor.id)
    db.session.add(job)
    db.session.flush()
    return job


def get_job(viewer, job_id: int) -> BulkJob:
    """The job, for the person who started it or an admin; NotFound for anyone else."""
    return job_for(viewer, BulkJob, job_id, "No such bulk action.")


def job_summary(job: BulkJob) -> str:
    action = BULK_ACTIONS.get(job.action)
    return summary_text(action.verb if action else "Changed", job.result or {})


def job_refused_some(job: BulkJob) -> bool:
    return bool((job.result or {}).get("refused", {}).get("count"))


def _snapshot(job: BulkJob, actor, worker: str) -> None:
    """Write the job's leads (ticked and still live, or matching its filter now) and commit."""
    if job.lead_ids is not None:
        ids = db.session.scalars(select(Lead.id).where(Lead.id.in_(job.lead_ids), Lead.deleted_at.is_(None))
                                 .order_by(Lead.id))
    else:
        ids = list(db.session.scalars(_filtered_ids(actor, job.filter_query).limit(MAX_FILTERED + 1)))
        if len(ids) > MAX_FILTERED:
            raise ValidationFailed({"lead_ids": [_too_many_message(f"more than {MAX_FILTERED:,}")]})
    total = snapshot.take(KIND, job.id, ids)
    leases.renew(BulkJob, job.id, worker, snapshot_taken=True, total=total)
    db.session.commit()


def work(job_id: int, worker: str, max_batches: int | None = None) -> None:
    """Carry out the job after its last committed batch (all of it, or ``max_batches`` batches,
    then let go of the lease so the next sweep goes on)."""
    job = db.session.get(BulkJob, job_id)
    db.session.refresh(job)
    actor = db.session.get(User, job.created_by_id) if job.created_by_id else None
    action = BULK_ACTIONS.get(job.action)
    if action is None or actor is None or not actor.active or not actor.can_write:
        raise DomainError("The person who started this bulk action can no longer change leads.")
    if not job.snapshot_taken:
        _snapshot(job, actor, worker)
    position, result, batches = job.position, dict(job.result or {}), 0
    while max_batches is None or batches < max_batches:
        pairs = snapshot.batch(KIND, job_id, position, BATCH_LEADS)
        if not pairs:
            snapshot.forget(KIND, job_id)
            leases.release(BulkJob, job_id, worker, status="done", finished_at=utcnow())
            db.session.commit()
            tidy_after_bulk_write(db.session, rows_written=job.total)
            db.session.commit()
            return
        by_id = {lead.id: lead for lead in db.session.scalars(
            select(Lead).where(Lead.id.in_([lead_id for _, lead_id in pairs]), Lead.deleted_at.is_(None)))}
        leads = [by_id[lead_id] for _, lead_id in pairs if lead_id in by_id]  # trashed meanwhile: left out
        result = action.handler(actor, leads, job.form_data or {}, result).as_dict(result)
        position = pairs[-1][0]
        leases.renew(BulkJob, job_id, worker, position=position, done=BulkJob.done + len(pairs), result=result)
        db.session.commit()
        for lead in leads:
            db.session.expunge(lead)
        batches += 1
    leases.let_go(BulkJob, job_id, worker)
    db.session.commit()


def _stop(job_id: int, worker: str, exc: Exception) -> None:
    message = (" ".join(m for ms in exc.errors.values() for m in ms) if isinstance(exc, ValidationFailed)
               else str(exc) if isinstance(exc, DomainError)
               else f"The bulk action stopped because of an unexpected error ({type(exc).__name__}); it was logged.")
    snapshot.forget(KIND, job_id)
    leases.release(BulkJob, job_id, worker, status="failed", finished_at=utcnow(),
                   error=message + " The leads handled before it stopped stay changed.")
    db.session.commit()


def run_job(job_id: int, worker: str | None = None, *, max_batches: int | None = None) -> bool:
    return jobs.run(KIND, job_id, worker, max_batches=max_batches)


def register_jobs(add) -> None:
    """This area's kind of long work, for the jobs module (``leadflow.wiring.schedule``)."""
    add(KIND, work, model=BulkJob, statuses=ACTIVE_STATUSES, on_error=_stop, claim_values={"status": "running"})


# --- the actions -----------------------------------------------------------------------------

def reassign_choices(actor) -> list[tuple[str, str]]:
    """``(value, label)`` for the Reassign menu: people, then round-robin over each team."""
    return ([(str(u.id), u.name) for u in menu_users(roles=WRITER_ROLES)]
            + [(f"team:{t.id}", f"Round-robin over team {t.name}") for t in menu_teams()])


def _reassign_target(actor, form_data: dict, turns_taken: int = 0) -> tuple[Callable[[], User], str]:
    """Who gets each next lead, and the reason the timeline gives."""
    target = str(form_data.get("assignee") or "")
    if target.startswith("team:"):
        team = db.session.get(Team, int(target[5:])) if target[5:].isdigit() else None
        next_member = team_round_robin(team, start=turns_taken) if team else None
        if next_member is None:
            raise ValidationFailed({"assignee": ["That team has nobody available to take leads."]})
        return next_member, f"by {actor.name} (bulk round-robin over {team.name})"
    user = db.session.get(User, int(target)) if target.isdigit() else None
    if user is None or not user.active or user.role == "viewer":
        raise ValidationFailed({"assignee": ["Choose an active person to reassign to."]})
    return (lambda: user), f"by {actor.name} (bulk reassign)"


@register_bulk_action("reassign", "Reassign to…", "Reassigned", fields=("assignee",),
                      check=lambda actor, form_data: _reassign_target(actor, form_data) and None)
def reassign(actor, leads: list[Lead], form_data: dict, so_far: dict) -> BulkResult:
    """A round-robin goes on in later batches from the turns the earlier ones took."""
    next_owner, reason = _reassign_target(actor, form_data, so_far.get("changed", 0) + so_far.get("unchanged", 0))
    result = BulkResult()
    for lead in leads:
        if not can_edit_lead(actor, lead):
            result.refused.append(lead.name)
        elif assign_lead(lead, next_owner().id, actor, reason):
            result.changed += 1
        else:
            result.unchanged += 1
    return result


def _check_sequence(actor, form_data: dict) -> None:
    enroll_many(actor, [], form_data.get("sequence_id"))  # refuses a missing or paused sequence


@register_bulk_action("enrol_sequence", "Enrol in sequence…", "Enrolled", fields=("sequence_id",),
                      check=_check_sequence)
def enrol_in_sequence(actor, leads: list[Lead], form_data: dict, so_far: dict) -> BulkResult:
    """Leads without marketing consent are reported as skipped, with the reason; leads
    already in the sequence as unchanged."""
    result = BulkResult(unchanged_label="already in the sequence")
    candidates = []
    for lead in leads:
        reason = marketing_skip_reason(lead) if can_edit_lead(actor, lead) else None
        if reason:
            result.skip(lead, reason)
        else:
            candidates.append(lead)
    result.changed, result.unchanged, result.refused = enroll_many(actor, candidates, form_data.get("sequence_id"))
    return result


@register_bulk_action("archive", "Archive (move to the trash)", "Archived")
def archive(actor, leads: list[Lead], form_data: dict, so_far: dict) -> BulkResult:
    """Soft delete, as the lead page's Delete does (``delete_lead``): the leads wait in the trash,
    where they can be restored until it is emptied."""
    result = BulkResult()
    for lead in leads:
        if can_edit_lead(actor, lead):
            delete_lead(actor, lead)
            result.changed += 1
        else:
            result.refused.append(lead.name)
    return result


def bulk_context(viewer) -> dict:
    """What the lead list needs to offer bulk actions (writers only)."""
    if not getattr(viewer, "can_write", False):
        return {"bulk_actions": [], "reassign_choices": []}
    return {"bulk_actions": [(a.name, a.label) for a in BULK_ACTIONS.values()],
            "reassign_choices": reassign_choices(viewer), "bulk_max_filtered": MAX_FILTERED}
