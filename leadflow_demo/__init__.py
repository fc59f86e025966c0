"""The demo workspace: a small sales team with a believable pipeline and its history.

It lives beside the app, not in it: a production install (``make serve``) has neither this
package's extra (Faker, ``pip install -e '.[demo]'``) nor any need of it. ``make run``
installs the extra, seeds the demo into an empty database (``flask --app wsgi leadflow
seed-demo --if-empty``) and prints ``DEMO_LOGIN``. Nothing here commits; the caller does.
``people`` is the invented world (countries, companies, names, phones), ``history`` the lead
factory, ``seed`` the writes.

It writes leads like any other writer: lead rows, their stage history, the timeline entries
the system writes ("Lead created", "Assigned to", "Moved from A to B") and the board totals
go through the lead store (``store.insert_past_leads``; the first scores through
``store.update_rows``). What people logged (calls, e-mails, meetings, notes), organizations,
users and the audit trail are the demo's own inserts.

Entry points
------------
``seed_demo(lead_count=200) -> str``
    The whole workspace: the team (an admin, a manager, three reps in the teams
    "Inbound" and "Outbound", a viewer; all sign in with the demo password), the default
    pipeline, organizations (about 60, or one per 50 leads for big seeds) and
    ``lead_count`` leads with their stage changes, timeline and audit log. Returns a
    one-line summary. On a workspace that already has data it adds leads and
    organizations and reuses the demo users, so no unique constraint trips. ``bench/``
    calls it on an empty database with 1,000 and 100,000.

``seed_team(rng) -> list[DemoUser]``, ``seed_organizations(count, rng) -> list[DemoOrg]``
    The two things leads need.

``seed_leads(count, *, users, organizations, stages, rng, now=None, history=None, full_recent=None)``
    The bulk part, returning ``SeedCounts``. ``users``: ``DemoUser`` rows or ``User``
    models; ``organizations``: the ``DemoOrg`` rows of ``seed_organizations``; ``stages``:
    the pipeline's ``Stage`` models. ``history="full"`` gives every lead call attempts,
    meetings, follow-ups, notes and field-level audit entries; ``"light"`` keeps that
    for the newest ``full_recent`` leads and gives the older ones their stage changes, one
    timeline entry per move and the "created" audit entry. The default is full up to
    ``FULL_HISTORY_LIMIT`` leads, light above.

Repeatable
    Randomness comes from ``random.Random(DEMO_SEED)`` and Faker instances seeded from it:
    two seedings of empty databases give the same team, companies, people and pipeline
    (dates are relative to the moment of seeding). Each lead's story draws from a generator
    of its own, taken from that one: the moment of seeding (which moves already happened,
    which times working hours push to Monday) changes only how far each story got, never
    which leads come after it, so the hot, warm and cold leads are much the same whatever the
    hour or weekday the demo is seeded.

Fast (100,000 leads in well under a minute on SQLite)
    Leads and their history are built as plain dicts, 2,000 leads at a time, and written
    with executemany inserts (the store's and the demo's own), never as ORM objects; the
    store reserves the new leads' ids up front so history rows can point at their lead. The
    history that follows from a light lead's own rows is written by INSERT … SELECT. For
    big seeds on SQLite the lead indexes are built once after loading instead of updated
    row by row, with a larger page cache, and cyclic garbage collection pauses while the
    rows are built. Phone numbers come from a pool per country validated once.

Safe data
    People are invented (Faker) and companies composed from word lists. Company domains
    use the reserved ``.example`` top-level domain (RFC 2606) and users are at
    ``example.com``, so no demo address reaches a real mailbox even with SMTP set up.
    Phone numbers are in the ranges regulators reserve for fiction where a country has
    them (US/CA 555-01xx, Ofcom drama numbers, ARCEP fiction numbers, ACMA fictitious
    numbers) and valid for the lead's country everywhere.
"""

from leadflow_demo.people import DEMO_LOGIN, DemoOrg, DemoUser
from leadflow_demo.seed import (
    DEMO_SEED, FULL_HISTORY_LIMIT, SeedCounts, organization_count_for, score_leads_quietly, seed_demo, seed_leads,
    seed_organizations, seed_team,
)

__all__ = ["DEMO_LOGIN", "DEMO_SEED", "FULL_HISTORY_LIMIT", "DemoOrg", "DemoUser", "SeedCounts",
           "organization_count_for", "score_leads_quietly", "seed_demo", "seed_leads", "seed_organizations",
           "seed_team"]
