"""The sequence sweep: timing with an injected clock, catch-up, consent, exits, exactly once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from leadflow.activities.models import Activity, Task
from leadflow.activities.services import log_activity
from leadflow.db import utcnow
from leadflow.errors import PermissionDenied, ValidationFailed
from leadflow.extensions import db
from leadflow.leads import events
from leadflow.mail.models import OutboxMessage
from leadflow.scheduler.runner import run_sweep
from leadflow.sequences import services
from leadflow.sequences.jobs import run_sequences
from leadflow.sequences.models import Enrollment

T0 = utcnow().replace(microsecond=0)


def _outbox():
    return db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()


def _sweep(at):
    ran = run_sequences(at)
    db.session.expire_all()
    return ran


def test_steps_run_in_order_with_waits_and_a_task_for_the_owner(app, make_template, make_sequence,
                                                               consenting_lead, make_user, enrol):
    owner = make_user(role="rep")
    lead = consenting_lead(first_name="Ada")
    lead.owner_id = owner.id
    first, second = make_template(subject="One {{ first_name }}"), make_template(subject="Two")
    sequence = make_sequence([("send", first), ("wait", 2, "days"), ("send", second), ("wait", 3, "hours"),
                              ("task", "Call Ada")])
    enrollment = enrol(lead, sequence, now=T0)
    db.session.commit()

    assert _sweep(T0) == 1
    assert [m.subject for m in _outbox()] == ["One Ada"]
    assert _outbox()[0].idempotency_key == f"seq:{enrollment.id}:0"
    assert _outbox()[0].list_unsubscribe and "/m/u/" in _outbox()[0].list_unsubscribe
    _sweep(T0 + timedelta(minutes=1))  # the wait starts
    assert _sweep(T0 + timedelta(days=1)) == 0  # still waiting
    assert len(_outbox()) == 1
    _sweep(T0 + timedelta(days=2, minutes=1))
    assert [m.subject for m in _outbox()] == ["One Ada", "Two"]
    _sweep(T0 + timedelta(days=2, minutes=2))  # wait 3 hours
    _sweep(T0 + timedelta(days=2, hours=3, minutes=2))
    task = db.session.scalar(select(Task).where(Task.lead_id == lead.id))
    assert task.title == "Call Ada" and task.assignee_id == owner.id
    enrollment = db.session.get(Enrollment, enrollment.id)
    assert enrollment.state == "completed"
    kinds = db.session.scalars(select(Activity.kind).where(Activity.lead_id == lead.id)).all()
    assert kinds.count("sequence_email") == 2


def test_after_downtime_overdue_steps_catch_up_one_step_per_sweep(app, make_template, make_sequence,
                                                                  consenting_lead, enrol):
    lead = consenting_lead()
    sequence = make_sequence([("send", make_template(subject="A")), ("send", make_template(subject="B")),
                              ("send", make_template(subject="C"))])
    enrol(lead, sequence, now=T0)
    db.session.commit()
    later = T0 + timedelta(days=30)  # the app was down for a month
    assert _sweep(later) == 1
    assert [m.subject for m in _outbox()] == ["A"]
    assert _sweep(later) == 0  # never a second step in the same sweep
    _sweep(later + timedelta(seconds=60))
    assert [m.subject for m in _outbox()] == ["A", "B"]


def test_no_consent_or_an_opt_out_never_sends_and_the_enrolment_exits_with_the_reason(
        app, make_sequence, consenting_lead, enrol):
    lead = consenting_lead()
    sequence = make_sequence()
    enrollment = enrol(lead, sequence, now=T0)
    lead.marketing_consent = False  # consent withdrawn after enrolment
    db.session.commit()
    _sweep(T0)
    assert _outbox() == []
    enrollment = db.session.get(Enrollment, enrollment.id)
    assert enrollment.state == "exited" and enrollment.exit_reason == "no_consent"


def test_enrolling_is_refused_without_consent_and_is_idempotent(app, make_sequence, make_lead, consenting_lead,
                                                                  enrol, make_user):
    sequence = make_sequence()
    with pytest.raises(ValidationFailed, match="not given marketing consent"):
        enrol(make_lead(), sequence)
    lead = consenting_lead()
    first = enrol(lead, sequence)
    assert enrol(lead, sequence).id == first.id
    assert db.session.scalar(select(func.count()).select_from(Enrollment)) == 1
    other_rep = make_user(role="rep")
    lead.owner_id = make_user(role="rep").id
    with pytest.raises(PermissionDenied):
        services.enroll(lead, sequence, other_rep)


def test_unsubscribing_records_the_opt_out_and_ends_every_enrolment(app, make_sequence, consenting_lead, enrol):
    lead = consenting_lead()
    one, two = enrol(lead, make_sequence()), enrol(lead, make_sequence(name="Other"))
    assert services.unsubscribe_lead(lead, now=T0)
    assert lead.marketing_consent is False and lead.unsubscribed_at == T0
    assert {one.state, two.state} == {"exited"} and one.exit_reason == "unsubscribed"
    kinds = db.session.scalars(select(Activity.kind).where(Activity.lead_id == lead.id)).all()
    assert kinds.count("unsubscribed") == 1
    from leadflow.governance.models import AuditEntry
    audit = db.session.scalar(select(AuditEntry).where(AuditEntry.entity_id == lead.id,
                                                      AuditEntry.field == "marketing_consent"))
    assert audit is not None and audit.actor_id is None
    assert not services.unsubscribe_lead(lead)  # once


def test_a_logged_email_ends_sequences_that_exit_on_reply_only(app, make_sequence, consenting_lead, enrol,
                                                               make_user):
    lead = consenting_lead()
    stops = enrol(lead, make_sequence(name="Stops"))
    keeps = enrol(lead, make_sequence(name="Keeps", exit_on_reply=""))
    log_activity(make_user(role="admin"), lead, {"kind": "email", "subject": "Re: your question"})
    assert stops.state == "exited" and stops.exit_reason == "replied"
    assert keeps.state == "active"


def test_won_stage_and_score_thresholds_end_enrolments(app, make_sequence, consenting_lead, enrol):
    from leadflow.pipeline.models import Stage

    lead = consenting_lead()
    by_score = enrol(lead, make_sequence(name="Score", exit_score_at_least="80", exit_on_won_lost=""))
    by_win = enrol(lead, make_sequence(name="Win"))
    events.score_changed(lead, None, 10, 50)
    assert by_score.state == "active"
    events.score_changed(lead, None, 50, 85)
    assert by_score.state == "exited" and by_score.exit_reason == "score_reached"
    won = db.session.scalar(select(Stage).where(Stage.kind == "won"))
    events.leads_moved([lead.id], None, lead.stage_id, won.id)
    assert by_win.state == "exited" and by_win.exit_reason == "won_lost"


@pytest.mark.real_commits  # schedulers in threads, each on its own connection
def test_each_step_runs_exactly_once_with_three_concurrent_schedulers(app, make_template, make_sequence,
                                                                       consenting_lead, enrol):
    sequence = make_sequence([("send", make_template(subject="A")), ("send", make_template(subject="B"))])
    leads = [consenting_lead() for _ in range(12)]
    for lead in leads:
        enrol(lead, sequence, now=T0)
    db.session.commit()
    barrier = threading.Barrier(3)
    errors = []

    def scheduler():
        with app.app_context():
            barrier.wait()
            for round_number in range(4):
                if run_sweep(app, "sequences", T0 + timedelta(seconds=round_number)) is None:
                    errors.append(round_number)

    threads = [threading.Thread(target=scheduler) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    db.session.expire_all()
    keys = [m.idempotency_key for m in _outbox()]
    assert len(keys) == 24 and len(set(keys)) == 24
    activities = db.session.scalar(select(func.count()).select_from(Activity).where(Activity.kind == "sequence_email"))
    assert activities == 24


def test_a_stage_move_ends_sequences_that_exit_on_stage_change(app, make_sequence, consenting_lead, enrol):
    lead = consenting_lead()
    moves = enrol(lead, make_sequence(name="Moves", exit_on_stage_change="y"))
    stays = enrol(lead, make_sequence(name="Stays"))
    events.leads_moved([lead.id], None, None, lead.stage_id)
    assert moves.exit_reason == "stage_changed" and stays.state == "active"


def test_a_sequence_set_to_exit_on_stage_change_ends_its_enrolment_at_the_next_move(app, make_sequence,
                                                                                    consenting_lead, enrol):
    """Which sequences exit on a move is kept for the process: changing a sequence counts at once."""
    lead = consenting_lead()
    sequence = make_sequence(name="Later", exit_on_won_lost="")
    enrollment = enrol(lead, sequence)
    db.session.commit()
    events.leads_moved([lead.id], None, None, lead.stage_id)
    assert enrollment.state == "active", "no sequence exits on a move yet"
    sequence.exit_on_stage_change = True
    db.session.commit()
    events.leads_moved([lead.id], None, None, lead.stage_id)
    assert enrollment.state == "exited" and enrollment.exit_reason == "stage_changed"


def test_a_deleted_template_is_skipped_and_a_paused_sequence_waits(app, make_template, make_sequence,
                                                                   consenting_lead, enrol, make_user):
    lead = consenting_lead()
    gone, kept = make_template(subject="Gone"), make_template(subject="Kept")
    sequence = make_sequence([("send", gone), ("send", kept)])
    enrollment = enrol(lead, sequence, now=T0)
    services.delete_template(make_user(role="manager"), gone)
    sequence.active = False
    db.session.commit()
    assert _sweep(T0) == 0  # paused: nothing runs
    db.session.get(type(sequence), sequence.id).active = True
    db.session.commit()
    _sweep(T0 + timedelta(seconds=1))
    _sweep(T0 + timedelta(seconds=2))
    assert [m.subject for m in _outbox()] == ["Kept"]
    assert db.session.get(Enrollment, enrollment.id).state == "completed"


def test_a_template_that_cannot_render_ends_the_enrolment_instead_of_retrying(app, make_template, make_sequence,
                                                                               consenting_lead, enrol):
    template = make_template()
    sequence = make_sequence([("send", template)])
    enrollment = enrol(consenting_lead(), sequence, now=T0)
    template.body = "{% for x in range(9) %}x{% endfor %}"  # written around the editor's check
    db.session.commit()
    _sweep(T0)
    assert _outbox() == []
    assert db.session.get(Enrollment, enrollment.id).exit_reason == "template_broken"
