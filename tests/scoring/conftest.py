import pytest

from leadflow.extensions import db
from leadflow.scoring.models import ScoringRule


@pytest.fixture
def make_rule(app):
    """``make_rule(points=10, field="title", operator="contains", value="director")``: a saved
    rule (fit by default)."""
    counter = iter(range(1, 10_000))

    def _make(**fields):
        n = next(counter)
        values = {"name": f"Rule {n}", "category": "fit", "active": True, "points": 10, "position": n}
        values.update(fields)
        rule = ScoringRule(**values)
        db.session.add(rule)
        db.session.flush()
        return rule

    return _make
