from __future__ import annotations

from types import SimpleNamespace

import pytest

from leadflow.extensions import db
from leadflow.sequences.links import read_token
from leadflow.sequences.templates import (
    TemplateError, can_send_marketing, check_syntax, render_for_lead, unknown_fields,
)


def _template(subject, body):
    return SimpleNamespace(subject=subject, body=body)


def test_merge_fields_fill_in_the_lead_owner_and_organization(app, make_lead, make_user, make_org):
    owner = make_user(role="rep", name="Dana Owner", email="dana@example.com")
    lead = make_lead(first_name="Ada", last_name="Lovelace", organization="Analytical Ltd")
    lead.owner_id = owner.id
    db.session.flush()
    db.session.refresh(lead)
    subject, text, html = render_for_lead(
        _template("Hi {{ first_name }}", "{{ full_name }} at {{ organization }}\n{{ owner_signature }}\n{{ unsubscribe_url }}"),
        lead)
    assert subject == "Hi Ada"
    assert "Ada Lovelace at Analytical Ltd" in text
    assert "Dana Owner\ndana@example.com" in text
    unsubscribe = text.strip().splitlines()[-1]
    assert "/m/u/" in unsubscribe and read_token("unsubscribe", unsubscribe.rsplit("/", 1)[1]) == {"l": lead.id}
    assert "<p>" in html and "Ada Lovelace" in html


def test_unknown_fields_render_empty_and_the_editor_lists_them(app, make_lead):
    lead = make_lead(first_name="Ada")
    subject, text, _ = render_for_lead(_template("Hi {{ nickname }}!", "{{ first_name }}{{ shoe_size }}."), lead)
    assert subject == "Hi !" and text == "Ada."
    assert unknown_fields("Hi {{ nickname }}", "{{ first_name }} {{ shoe_size }}") == ["nickname", "shoe_size"]


def test_lead_data_is_escaped_in_the_html_body_and_links_become_anchors(app, make_lead):
    lead = make_lead(first_name="<script>alert(1)</script>")
    _, text, html = render_for_lead(_template("x", "Hi {{ first_name }} <b>bold</b>\nhttps://example.com/a?b=1&c=2"), lead)
    assert "<script>" in text  # the text part is plain text
    assert "<script>" not in html and "&lt;script&gt;" in html and "<b>" not in html
    assert '<a href="https://example.com/a?b=1&amp;c=2">' in html


@pytest.mark.parametrize("source", [
    "{{ first_name.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ 'x' * 1000000000 }}",
    "{% for a in range(100000) %}{% for b in range(100000) %}.{% endfor %}{% endfor %}",
    "{{ first_name|attr('__class__') }}",
])
def test_templates_cannot_reach_past_merge_fields_or_run_away(app, make_lead, source):
    lead = make_lead()
    assert check_syntax(source) is not None  # the editor refuses to save it
    with pytest.raises(TemplateError):
        render_for_lead(_template("x", source), lead)


def test_if_and_simple_filters_are_allowed(app, make_lead):
    lead = make_lead(first_name="ada")
    source = "{% if organization %}at {{ organization }}{% else %}Hi {{ first_name|title }}{% endif %}"
    assert check_syntax(source) is None
    assert render_for_lead(_template("x", source), lead)[1] == "Hi Ada"


def test_marketing_needs_consent_an_address_and_no_opt_out(app, make_lead):
    lead = make_lead()
    assert not can_send_marketing(lead)
    lead.marketing_consent = True
    assert can_send_marketing(lead)
    lead.email = None
    assert not can_send_marketing(lead)
