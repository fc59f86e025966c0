"""Lost reasons and data quality against small hand-checked data sets."""

from __future__ import annotations

from datetime import timedelta

from leadflow.extensions import db
from leadflow.leads.duplicate_pairs import duplicates_queue_context
from leadflow.leads.models import Lead
from leadflow.reports.data_quality import (
    NO_REASON, duplicate_pair_count, lost_reasons, missing_counts, queue_leads, untouched_count,
)

from tests.reports.team_helpers import END, START, at, disqualify, lead, live_lead_ids, move, trash

NOW = END + timedelta(days=1)


def test_lost_and_disqualified_by_reason_blank_reasons_grouped(app):
    for reason in ("Too expensive", "  Too expensive  ", "", None):
        move(lead(at(1), won_lost_reason=reason), "Lost", at(6))
    move(lead(at(1), won_lost_reason="Timing"), "Lost", at(2))          # lost before the period
    reopened = lead(at(1), won_lost_reason="Timing")
    move(reopened, "Lost", at(6))
    move(reopened, "Negotiation", at(7))                                 # not lost any more
    gone = lead(at(1), won_lost_reason="Timing")
    move(gone, "Lost", at(6))
    trash(gone)                                                          # in the trash
    disqualify(lead(at(5)), at(6), "Student")
    disqualify(lead(at(1)), at(7), None)                                 # created before, disqualified in it
    disqualify(lead(at(1)), at(2), "Student")                            # disqualified before the period
    disqualify(lead(at(1)), at(6), "Student", requalified=at(8))         # qualified again since
    trash_me = lead(at(1))
    disqualify(trash_me, at(6), "Student")
    trash(trash_me)                                                      # in the trash
    rows = lost_reasons(live_lead_ids(), START, END)
    assert [(r.kind, r.reason, r.leads) for r in rows] == [
        ("Lost", NO_REASON, 2), ("Lost", "Too expensive", 2),
        ("Disqualified", NO_REASON, 1), ("Disqualified", "Student", 1),
    ]


def test_no_lost_leads_in_the_period_gives_no_reasons(app):
    move(lead(at(1), won_lost_reason="Timing"), "Lost", at(6))
    assert lost_reasons(live_lead_ids(), at(1, month=6), at(15, month=6)) == []


def test_missing_fields_count_blank_values_as_missing(app, make_user):
    owner = make_user("rep")
    lead(at(1), owner_id=owner.id, source="website", phone="+12025550100")          # complete
    lead(at(1), owner_id=owner.id, source="website", phone="+12025550101", email=None, email_key=None)
    lead(at(1), owner_id=None, source="  ", phone=None)
    lead(at(1), owner_id=owner.id, source=None, phone="")
    trash(lead(at(1), owner_id=None, source=None, phone=None))                       # in the trash
    counts = missing_counts(live_lead_ids())
    assert (counts.leads, counts.no_email, counts.no_phone, counts.no_owner, counts.no_source) == (4, 1, 2, 1, 2)
    queue = queue_leads(live_lead_ids(), "no_source", NOW)
    assert queue.total == 2 and len(queue.rows) == 2


def test_untouched_open_leads_oldest_touch_first(app, make_user):
    owner = make_user("rep", name="Ann")
    old = NOW - timedelta(days=100)
    quiet = lead(old, first_name="Quiet", owner_id=owner.id)                           # never touched
    lapsed = lead(old, first_name="Lapsed", last_activity_at=NOW - timedelta(days=91))
    lead(old, first_name="Busy", last_activity_at=NOW - timedelta(days=10))            # touched lately
    lead(NOW - timedelta(days=89), first_name="New")                                   # too young
    move(lead(old, first_name="Won"), "Won", old)                                       # closed
    disqualify(lead(old, first_name="Dq"), old)                                         # disqualified
    trash(lead(old, first_name="Gone"))                                                 # in the trash
    assert untouched_count(live_lead_ids(), NOW) == 2
    page = queue_leads(live_lead_ids(), "untouched", NOW)
    assert [(r.id, r.name, r.owner) for r in page.rows] == [(quiet.id, "Quiet Example", "Ann"),
                                                             (lapsed.id, "Lapsed Example", None)]
    assert (page.total, page.page, page.pages) == (2, 1, 1)
    assert page.rows[0].last_touched_at == old


def test_an_unknown_queue_falls_back_to_untouched_and_a_page_past_the_end_to_the_last(app):
    lead(NOW - timedelta(days=120))
    page = queue_leads(live_lead_ids(), "nonsense", NOW, page=9)
    assert (page.queue, page.total, page.page) == ("untouched", 1, 1)


def test_duplicate_count_is_the_duplicates_queue_total(app, make_user):
    admin = make_user("admin")
    first = lead(at(1), phone="+12025550100")
    lead(at(1), phone="+12025550100")
    lead(at(1), phone="+12025550100")   # three leads on one phone: three pairs
    alone = lead(at(1), phone="+12025550199")
    assert duplicate_pair_count(live_lead_ids()) == (3, True)
    assert duplicates_queue_context(admin)["total"] == 3
    # In a narrower view, the pairs with one of its leads in them: the first lead is in two.
    assert duplicate_pair_count(db.select(Lead.id).where(Lead.id == first.id)) == (2, True)
    assert duplicate_pair_count(db.select(Lead.id).where(Lead.id == alone.id)) == (0, True)
    db.session.execute(db.update(Lead).where(Lead.phone == "+12025550100").values(deleted_at=NOW))
    assert duplicate_pair_count(live_lead_ids()) == (0, True)
