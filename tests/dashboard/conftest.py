"""A small hand-checked workspace for the home page, its numbers worked out in the tests.

"Now" is Tue 15 Dec 2026 20:00 UTC: 15:00 for Ann in New York (UTC-5), whose day ends at
16 Dec 05:00 UTC and whose December starts 1 Dec 05:00 UTC (November: 1 Nov 04:00 UTC).
Ann, Bob and manager Meg are team "East"; Cid is in no team. EUR has a rate of 1.1 to the
base currency USD; GBP has none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from leadflow.accounts.models import Team
from leadflow.activities.models import Task
from leadflow.extensions import db
from leadflow.governance.models import ExchangeRate
from leadflow.leads.models import Lead
from leadflow.pipeline.models import Stage, StageChange
from leadflow.pipeline.services import ensure_default_pipeline

NOW = datetime(2026, 12, 15, 20, 0, tzinfo=UTC)
LONG_AGO = NOW - timedelta(days=30)  # 15 Nov: not new, not waiting


@dataclass
class World:
    ann: object
    bob: object
    cid: object
    meg: object
    admin: object
    stages: dict
    leads: dict = field(default_factory=dict)
    tasks: dict = field(default_factory=dict)


@pytest.fixture
def world(make_user, make_lead):
    team = Team(name="East")
    db.session.add(team)
    db.session.flush()
    ann = make_user("rep", name="Ann Archer", timezone="America/New_York", team_id=team.id)
    bob = make_user("rep", name="Bob Baker", team_id=team.id)
    cid = make_user("rep", name="Cid Carter")
    meg = make_user("manager", name="Meg Manager", team_id=team.id)
    admin = make_user("admin", name="Ada Admin")
    stages = {s.name: s for s in ensure_default_pipeline().stages}
    db.session.add(ExchangeRate(base_currency="USD", currency="EUR", rate=Decimal("1.1")))
    w = World(ann, bob, cid, meg, admin, stages)

    def lead(key, owner, *, stage="New", created=LONG_AGO, responded=None, **columns):
        made = make_lead(owner_id=owner.id if owner else None, first_name=key.title(), last_name="Test")
        values = {"created_at": created, "stage_id": stages[stage].id, "first_response_at": responded,
                  "stage_entered_at": columns.pop("entered", created), **columns}
        db.session.execute(db.update(Lead).where(Lead.id == made.id).values(**values))
        w.leads[key] = made.id
        return made.id

    def task(key, assignee, lead_key, due, **columns):
        row = Task(lead_id=w.leads[lead_key], kind="call", title=f"Task {key}", due_at=due, remind_at=due,
                   assignee_id=assignee.id, created_by_id=assignee.id, **columns)
        db.session.add(row)
        db.session.flush()
        w.tasks[key] = row.id

    # --- Today -------------------------------------------------------------------------
    lead("worked", ann)
    task("t1", ann, "worked", datetime(2026, 12, 14, 15, 0, tzinfo=UTC))       # overdue
    task("t2", ann, "worked", datetime(2026, 12, 15, 19, 59, tzinfo=UTC))      # overdue (a minute ago)
    task("t3", ann, "worked", datetime(2026, 12, 15, 20, 30, tzinfo=UTC))      # later today
    task("t4", ann, "worked", datetime(2026, 12, 16, 4, 59, tzinfo=UTC))       # 23:59 in New York: today
    lead("hot2", ann, temperature="hot")
    task("t5", ann, "hot2", datetime(2026, 12, 16, 5, 0, tzinfo=UTC))          # midnight in New York: tomorrow
    lead("hot3", ann, temperature="hot")
    task("t6", ann, "hot3", datetime(2026, 12, 14, 9, 0, tzinfo=UTC), done_at=NOW - timedelta(days=1))  # done
    lead("trashed", ann, deleted_at=NOW - timedelta(days=1), temperature="hot")
    task("t7", ann, "trashed", datetime(2026, 12, 14, 9, 0, tzinfo=UTC))      # on a lead in the trash
    lead("bobs", bob, temperature="hot")
    task("t8", bob, "bobs", datetime(2026, 12, 14, 9, 0, tzinfo=UTC))          # Bob's, overdue
    lead("cids", cid)
    task("t9", cid, "cids", datetime(2026, 12, 15, 21, 0, tzinfo=UTC))         # Cid's, later today
    lead("hot1", ann, temperature="hot")                                       # hot, nothing planned
    lead("hot_customer", ann, temperature="hot", lifecycle="customer")         # a customer: not listed
    lead("hot_bob", bob, temperature="hot")                                    # Bob's hot lead, nothing planned

    lead("w1", ann, created=NOW - timedelta(minutes=90))                       # waiting 90 min
    lead("w2", ann, created=NOW - timedelta(days=3))                           # waiting 4,320 min
    lead("w3", ann, created=NOW - timedelta(hours=2), responded=NOW - timedelta(hours=2) + timedelta(seconds=1800))
    lead("w4", ann, created=NOW - timedelta(days=8))                           # older than a week
    lead("w5", ann, created=NOW - timedelta(hours=1), lifecycle="disqualified")
    lead("w6", ann, created=NOW - timedelta(hours=5), deleted_at=NOW - timedelta(hours=1))

    # --- This month: won ----------------------------------------------------------------
    lead("g1", ann, stage="Won", value_cents=100_000, entered=datetime(2026, 12, 2, 12, tzinfo=UTC))
    lead("g2", ann, stage="Won", value_cents=50_000, currency="EUR", entered=datetime(2026, 12, 10, tzinfo=UTC))
    lead("g3", ann, stage="Won", value_cents=30_000, entered=datetime(2026, 12, 1, 4, 30, tzinfo=UTC))  # 30 Nov in NY
    lead("g4", ann, stage="Won", value_cents=20_000, entered=datetime(2026, 11, 15, tzinfo=UTC))
    lead("g5", ann, stage="Won", value_cents=999_900, entered=datetime(2026, 12, 5, tzinfo=UTC),
         deleted_at=NOW - timedelta(days=2))
    lead("g6", bob, stage="Won", value_cents=70_000, entered=datetime(2026, 12, 5, tzinfo=UTC))
    lead("g7", ann, stage="Won", value_cents=10_000, currency="GBP", entered=datetime(2026, 12, 3, tzinfo=UTC))

    # --- This month: first responses ------------------------------------------------------
    def answered(key, owner, created, seconds, **columns):
        lead(key, owner, created=created, responded=created + timedelta(seconds=seconds), **columns)

    answered("r1", ann, datetime(2026, 12, 2, 12, tzinfo=UTC), 600)
    answered("r2", ann, datetime(2026, 12, 3, 12, tzinfo=UTC), 1200)
    answered("r3", ann, datetime(2026, 12, 4, 12, tzinfo=UTC), 3600)
    answered("r4", ann, datetime(2026, 11, 10, 12, tzinfo=UTC), 300)
    answered("r5", ann, datetime(2026, 11, 11, 12, tzinfo=UTC), 900)
    answered("r6", ann, datetime(2026, 11, 12, 12, tzinfo=UTC), 60)
    answered("r7", ann, datetime(2026, 12, 2, 12, tzinfo=UTC), 10, deleted_at=NOW - timedelta(days=1))
    answered("r8", bob, datetime(2026, 12, 2, 12, tzinfo=UTC), 5)

    # --- This month: open pipeline and its history ------------------------------------------
    lead("p1", ann, stage="Proposal sent", value_cents=100_000)
    lead("p2", ann, stage="New", value_cents=20_000, currency="EUR")
    lead("p3", ann, stage="Qualified")
    db.session.execute(db.delete(StageChange))
    db.session.execute(db.insert(StageChange), [
        {"lead_id": w.leads["p1"], "from_stage_id": None, "to_stage_id": stages["New"].id,
         "at": datetime(2026, 10, 10, tzinfo=UTC)},
        {"lead_id": w.leads["p1"], "from_stage_id": stages["New"].id, "to_stage_id": stages["Proposal sent"].id,
         "at": datetime(2026, 12, 5, tzinfo=UTC)},
        {"lead_id": w.leads["p2"], "from_stage_id": None, "to_stage_id": stages["New"].id,
         "at": datetime(2026, 11, 20, tzinfo=UTC)},
        {"lead_id": w.leads["g1"], "from_stage_id": None, "to_stage_id": stages["New"].id,
         "at": datetime(2026, 10, 1, tzinfo=UTC)},
        {"lead_id": w.leads["g1"], "from_stage_id": stages["New"].id, "to_stage_id": stages["Won"].id,
         "at": datetime(2026, 12, 2, 12, tzinfo=UTC)},
    ])
    db.session.flush()
    return w


@pytest.fixture
def stage_named():
    def _get(name):
        return db.session.scalar(db.select(Stage).where(Stage.name == name))
    return _get
