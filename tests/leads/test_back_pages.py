"""A page in the back half of a counted list is read from the list's end, in the reverse
order, and turned round: it must show exactly the rows, in the order, that reading past every
row before it (OFFSET) shows, whatever the sort, its direction and the ties in its key."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from werkzeug.datastructures import MultiDict

from leadflow.extensions import db
from leadflow.governance.models import ExchangeRate
from leadflow.leads.models import Lead
from leadflow.leads.queries import LeadFilters, filtered_leads, lead_list_context, lead_order

PER_PAGE = 3


@pytest.fixture
def tied_leads(make_lead, make_user):
    """Eleven leads whose every sort key is tied with another's: three creation times, two
    names, values with ties, no value, and a currency without a rate (sorted last)."""
    db.session.add(ExchangeRate(base_currency="USD", currency="EUR", rate=Decimal("1.10")))
    values = ("100", "100", None, "50", "100", "7", None, "50", "100", "90.91", "3")
    currencies = ("USD", "USD", "USD", "USD", "JPY", "USD", "USD", "EUR", "USD", "EUR", "JPY")
    viewer = make_user("viewer")
    # several tags on some: the rows are read with their tags joined, a row per tag
    leads = [make_lead(first_name="Tie" if i % 2 else "Same", last_name="Name" if i % 3 else "Other",
                       value=values[i], currency=currencies[i], source="referral" if i != 4 else "event",
                       tags="zeta, Alpha, mid" if i % 2 else "")
             for i in range(11)]
    for i, lead in enumerate(leads):
        lead.created_at = datetime(2026, 1, 1 + i % 3, tzinfo=timezone.utc)
    db.session.commit()
    return viewer


def every_page(viewer, args: dict) -> tuple[list[int], list[tuple[int, str]]]:
    """The ids of the whole list as paged, and (page, "Showing a–b") of each page."""
    shown, labels, page = [], [], 1
    while True:
        filters = LeadFilters.from_args(MultiDict({**args, "page": str(page)}))
        filters.per_page = PER_PAGE
        context = lead_list_context(filters, viewer)
        shown += [row.id for row in context["leads"]]
        assert all(list(row.tags) in ([], ["Alpha", "mid", "zeta"]) for row in context["leads"])
        labels.append((context["page"], f"{context['first_row']}–{context['last_row']}"))
        if not context["has_next"]:
            return shown, labels
        page += 1


@pytest.mark.parametrize("sort", ["created", "name", "value", "score"])
@pytest.mark.parametrize("direction", ["desc", "asc"])
@pytest.mark.parametrize("extra", [{}, {"source": "referral"}, {"q": "tie"}, {"q": "name", "source": "referral"}])
def test_every_page_shows_the_rows_offset_would_in_its_order(tied_leads, sort, direction, extra):
    args = {"sort": sort, "dir": direction, **extra}
    filters = LeadFilters.from_args(MultiDict(args))
    expected = list(db.session.scalars(filtered_leads(filters, tied_leads).with_only_columns(Lead.id)
                                       .order_by(*lead_order(filters))))
    assert len(expected) > PER_PAGE
    shown, labels = every_page(tied_leads, args)
    assert shown == expected
    assert labels[-1] == (len(labels), f"{PER_PAGE * (len(labels) - 1) + 1}–{len(expected)}")


def test_the_back_half_is_read_from_the_end(tied_leads, count_queries):
    with count_queries() as statements:
        filters = LeadFilters.from_args(MultiDict({"page": "4"}))
        filters.per_page = PER_PAGE
        context = lead_list_context(filters, tied_leads)
    assert context["first_row"] == 10 and context["last_row"] == 11 and not context["has_next"]
    paged = [s for s in statements if "ORDER BY leads.created_at" in s]
    assert len(paged) == 1, "the page's ids are paged in the statement that reads its rows"
    assert "ORDER BY leads.created_at ASC, leads.id ASC" in paged[0], "the newest-first list paged oldest first"
    assert "ORDER BY leads.created_at DESC, leads.id DESC" in paged[0], "and its rows shown newest first"
