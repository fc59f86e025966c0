"""The arithmetic of compute_score, on rules and activities that are never saved."""

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from decimal import Decimal

from leadflow.governance.money import Rate, Rates
from leadflow.scoring.models import ScoringRule
from leadflow.scoring.services import ActivityFact, compute_score, lifecycle_for, temperature_for

NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
SETTINGS = {"warm_at": 30, "hot_at": 60, "lifecycle_auto": True, "mql_at": 40, "sql_at": 70, "half_life_days": 0}


def lead(**fields):
    base = {"title": None, "organization": None, "country": None, "source": None, "lifecycle": "lead",
            "value": None, "currency": "USD", "email": None, "tags": [], "custom_fields": None,
            "created_at": NOW - timedelta(days=1)}
    base.update(fields)
    base["value_cents"] = None if base["value"] is None else int(base["value"] * 100)
    return SimpleNamespace(**base)


# Deal values are compared in the base currency: USD here, with one rate to it (and none for JPY).
RATES = Rates("USD", {"EUR": Rate("EUR", Decimal("1.08"), NOW, "Admin")})


_ids = iter(range(1, 100_000))


def rule(**fields):
    values = {"id": next(_ids), "name": "R", "category": "fit", "active": True, "points": 10, "cap": None,
              "contains": None, "custom_key": None, "value": None}
    values.update(fields)
    return ScoringRule(**values)


def visit(days_ago=0, kind="website_visit", text=""):
    return ActivityFact(kind, NOW - timedelta(days=days_ago), text)


@pytest.mark.parametrize("field, operator, value, lead_fields, matches", [
    ("title", "contains", "Director", {"title": "Sales director EMEA"}, True),
    ("title", "contains", "vp", {"title": "Director"}, False),
    ("country", "equals", "de", {"country": "DE"}, True),
    ("source", "in", "referral, event", {"source": "event"}, True),
    ("source", "in", "referral, event", {"source": "website"}, False),
    ("value", "gte", "10000", {"value": 10000}, True),
    ("value", "gte", "10000", {"value": 9999}, False),
    ("value", "lte", "500", {"value": 250}, True),
    ("value", "gte", "1", {"value": None}, False),
    ("email_domain", "equals", "acme.com", {"email": "ann@ACME.com"}, True),
    ("tags", "equals", "vip", {"tags": [SimpleNamespace(name="VIP"), SimpleNamespace(name="trial")]}, True),
    ("tags", "contains", "enterprise", {"tags": []}, False),
    ("size_band", "in", "201-1000,1000+", {"organization": SimpleNamespace(size_band="1000+")}, True),
    ("size_band", "is_set", None, {"organization": None}, False),
    ("lifecycle", "equals", "mql", {"lifecycle": "mql"}, True),
    ("title", "is_set", None, {"title": "CEO"}, True),
    ("title", "is_set", None, {"title": ""}, False),
])
def test_each_fit_operator(field, operator, value, lead_fields, matches):
    total, breakdown = compute_score(lead(**lead_fields), [], [rule(field=field, operator=operator, value=value)], NOW,
                                     rates=RATES)
    assert total == (10 if matches else 0)
    assert len(breakdown) == (1 if matches else 0)


@pytest.mark.parametrize("operator, limit, lead_fields, matches", [
    ("gte", "1080", {"value": 1000, "currency": "EUR"}, True),    # €1,000 is $1,080
    ("gte", "1081", {"value": 1000, "currency": "EUR"}, False),
    ("lte", "1080", {"value": 1000, "currency": "EUR"}, True),
    ("gte", "1", {"value": 1000, "currency": "JPY"}, False),      # no rate: never compared, not read as USD
    ("lte", "999999", {"value": 1000, "currency": "JPY"}, False),
    ("equals", "1000", {"value": 1000, "currency": "JPY"}, False),
    ("is_set", None, {"value": 1000, "currency": "JPY"}, True),   # it has a value, whatever its currency
])
def test_deal_value_rules_compare_in_the_base_currency(operator, limit, lead_fields, matches):
    total, breakdown = compute_score(lead(**lead_fields), [], [rule(field="value", operator=operator, value=limit)],
                                     NOW, rates=RATES)
    assert total == (10 if matches else 0)
    if matches and operator != "is_set":
        assert breakdown[0]["detail"] == "Deal value: €1,000 ≈ $1,080 USD"


def test_custom_field_rules_read_the_key_and_compare_numbers():
    employees = rule(field="custom", custom_key="employees", operator="gte", value="50", points=7)
    plan = rule(field="custom", custom_key="plan", operator="equals", value="Pro", points=3)
    total, breakdown = compute_score(lead(custom_fields={"employees": "120", "plan": "pro"}), [], [employees, plan], NOW)
    assert total == 10
    assert [b["points"] for b in breakdown] == [7, 3]


def test_breakdown_names_each_rule_and_why():
    director = rule(name="Decision maker", field="title", operator="contains", value="director", points=15)
    total, breakdown = compute_score(lead(title="Director of IT"), [], [director], NOW)
    assert total == 15
    assert breakdown == [{"rule_id": director.id, "name": "Decision maker", "points": 15,
                          "detail": "Job title: Director of IT"}]


def test_engagement_points_per_occurrence_with_the_contains_condition():
    pricing = rule(category="engagement", activity_kind="website_visit", contains="pricing", points=5)
    activities = [visit(text="visited /pricing"), visit(text="visited /PRICING/enterprise"), visit(text="visited /blog"),
                  visit(kind="call")]
    total, breakdown = compute_score(lead(), activities, [pricing], NOW)
    assert total == 10
    assert breakdown[0]["detail"] == "2 × +5"


def test_engagement_points_stop_at_the_cap():
    forms = rule(category="engagement", activity_kind="form_submission", points=10, cap=25)
    total, breakdown = compute_score(lead(), [visit(kind="form_submission")] * 4, [forms], NOW)
    assert total == 25
    assert "capped at 25" in breakdown[0]["detail"]


def test_engagement_points_halve_every_half_life():
    forms = rule(category="engagement", activity_kind="form_submission", points=20)
    activities = [visit(0, "form_submission"), visit(10, "form_submission"), visit(20, "form_submission")]
    total, _ = compute_score(lead(), activities, [forms], NOW, half_life_days=10)
    assert total == 20 + 10 + 5
    total_off, _ = compute_score(lead(), activities, [forms], NOW, half_life_days=0)
    assert total_off == 60


def test_inactivity_rule_takes_points_away_after_n_quiet_days():
    fit = rule(field="title", operator="is_set", points=30)
    quiet = rule(name="Gone quiet", category="inactivity", days=30, points=-20)
    recent = compute_score(lead(title="CEO"), [visit(5)], [fit, quiet], NOW)
    assert recent[0] == 30
    old = compute_score(lead(title="CEO"), [visit(45)], [fit, quiet], NOW)
    assert old[0] == 10
    assert old[1][1]["name"] == "Gone quiet" and old[1][1]["points"] == -20
    # Without any activity, the lead's creation counts as its last sign of life.
    never = compute_score(lead(title="CEO", created_at=NOW - timedelta(days=31)), [], [fit, quiet], NOW)
    assert never[0] == 10
    # Bookkeeping rows (score changes, system entries) are not signs of life.
    still_quiet = compute_score(lead(title="CEO"), [visit(45), visit(1, "score_change")], [fit, quiet], NOW)
    assert still_quiet[0] == 10


def test_paused_rules_count_for_nothing_and_the_total_never_goes_below_zero():
    paused = rule(field="title", operator="is_set", points=50, active=False)
    penalty = rule(field="title", operator="is_set", points=-15)
    total, breakdown = compute_score(lead(title="Intern"), [], [paused, penalty], NOW)
    assert total == 0
    assert [b["points"] for b in breakdown] == [-15]


@pytest.mark.parametrize("score, temperature", [(0, "cold"), (29, "cold"), (30, "warm"), (59, "warm"), (60, "hot")])
def test_temperature_follows_the_thresholds(score, temperature):
    assert temperature_for(score, SETTINGS) == temperature


@pytest.mark.parametrize("current, score, expected", [
    ("lead", 39, "lead"), ("lead", 40, "mql"), ("subscriber", 75, "sql"), ("mql", 75, "sql"),
    ("sql", 10, "sql"),  # never backwards
    ("mql", 0, "mql"),
    ("opportunity", 99, "opportunity"), ("customer", 99, "customer"), ("disqualified", 99, "disqualified"),
])
def test_lifecycle_moves_forward_only(current, score, expected):
    assert lifecycle_for(current, score, SETTINGS) == expected


def test_lifecycle_stays_when_automatic_moves_are_off():
    assert lifecycle_for("lead", 99, {**SETTINGS, "lifecycle_auto": False}) == "lead"
