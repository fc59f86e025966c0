"""The links inside sent e-mail: unsubscribe (confirm page, POST, one-click), open pixel, click redirect."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

from sqlalchemy import select

from leadflow.activities.models import Activity
from leadflow.db import utcnow
from leadflow.extensions import db
from leadflow.leads.models import Lead
from leadflow.mail.models import OutboxMessage
from leadflow.sequences.jobs import run_sequences
from leadflow.sequences.links import make_token
from leadflow.sequences.models import Enrollment


def _sent(make_sequence, consenting_lead, enrol, make_template):
    lead = consenting_lead()
    template = make_template(body="Read https://example.com/guide?a=1&b=2 today")
    enrollment = enrol(lead, make_sequence([("send", template), ("wait", 1, "days")]))
    db.session.commit()
    run_sequences(utcnow())
    message = db.session.scalar(select(OutboxMessage))
    return lead, enrollment, message


def _path(url):
    return "/" + url.split("/", 3)[3]


def _kinds(lead):
    return db.session.scalars(select(Activity.kind).where(Activity.lead_id == lead.id)).all()


def test_unsubscribe_link_shows_a_confirm_page_then_post_opts_out(client, make_sequence, consenting_lead, enrol,
                                                                  make_template):
    lead, enrollment, message = _sent(make_sequence, consenting_lead, enrol, make_template)
    url = _path(message.list_unsubscribe)
    assert url in message.text_body and url in unescape(message.html_body)
    page = client.get(url)
    assert page.status_code == 200 and "Unsubscribe from marketing e-mail?" in page.get_data(as_text=True)
    assert db.session.get(Lead, lead.id).unsubscribed_at is None  # a GET (a link scanner) changes nothing
    done = client.post(url)  # no session, no CSRF token: the signed link is the proof
    assert done.status_code == 200 and "You are unsubscribed" in done.get_data(as_text=True)
    lead = db.session.get(Lead, lead.id)
    assert lead.unsubscribed_at is not None and lead.marketing_consent is False
    assert db.session.get(Enrollment, enrollment.id).exit_reason == "unsubscribed"
    assert "unsubscribed" in _kinds(lead)


def test_one_click_unsubscribe_from_the_mail_client(client, make_lead):
    lead = make_lead()
    lead.marketing_consent = True
    db.session.commit()
    token = make_token("unsubscribe", {"l": lead.id})
    response = client.post(f"/m/u/{token}", data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert db.session.get(Lead, lead.id).marketing_consent is False


def test_a_tampered_unsubscribe_token_is_not_found(client, make_lead):
    lead = make_lead()
    db.session.commit()
    token = make_token("unsubscribe", {"l": lead.id})
    assert client.get(f"/m/u/{token[:-2]}xx").status_code == 404
    assert client.post(f"/m/u/{make_token('click', {'l': lead.id})}").status_code == 404  # made for another purpose


def test_the_open_pixel_is_an_uncached_gif_and_records_one_open(client, make_sequence, consenting_lead, enrol,
                                                                 make_template):
    lead, _, message = _sent(make_sequence, consenting_lead, enrol, make_template)
    pixel = re.search(r'<img src="([^"]+)"', message.html_body).group(1)
    for _ in range(2):
        response = client.get(_path(unescape(pixel)))
        assert response.status_code == 200 and response.mimetype == "image/gif"
        assert "no-store" in response.headers["Cache-Control"]
    assert _kinds(lead).count("email_opened") == 1


def test_links_are_rewritten_and_a_click_redirects_to_the_original_address(client, make_sequence, consenting_lead,
                                                                          enrol, make_template):
    lead, _, message = _sent(make_sequence, consenting_lead, enrol, make_template)
    hrefs = [unescape(h) for h in re.findall(r'href="([^"]+)"', message.html_body) if "/m/c/" in h]
    assert len(hrefs) == 1 and "example.com" not in hrefs[0]
    response = client.get(_path(hrefs[0]))
    assert response.status_code == 302 and response.headers["Location"] == "https://example.com/guide?a=1&b=2"
    assert "email_clicked" in _kinds(lead)


def test_click_tokens_that_are_tampered_foreign_or_not_http_are_refused(client, make_sequence, consenting_lead,
                                                                        enrol, make_template):
    _, _, message = _sent(make_sequence, consenting_lead, enrol, make_template)
    href = unescape(next(h for h in re.findall(r'href="([^"]+)"', message.html_body) if "/m/c/" in h))
    token = href.rsplit("/", 1)[1]
    assert client.get(f"/m/c/{token[:-3]}abc").status_code == 404
    for url in ("javascript:alert(1)", "//evil.example", "ftp://example.com/x"):
        assert client.get(f"/m/c/{make_token('click', {'m': message.id, 'u': url})}").status_code == 404
    assert client.get(f"/m/c/{make_token('open', {'m': message.id, 'u': 'https://evil.example'})}").status_code == 404
    assert client.get(f"/m/c/{make_token('click', {'m': 999999, 'u': 'https://example.com'})}").status_code == 404


def test_opens_and_clicks_feed_the_score(client, make_sequence, consenting_lead, enrol, make_template):
    from leadflow.scoring.models import ScoringRule

    db.session.add_all([ScoringRule(name="Opened mail", category="engagement", activity_kind="email_opened", points=2,
                                    position=1),
                        ScoringRule(name="Clicked a link", category="engagement", activity_kind="email_clicked",
                                    points=10, position=2)])
    lead, _, message = _sent(make_sequence, consenting_lead, enrol, make_template)
    assert db.session.get(Lead, lead.id).score == 0
    client.get(_path(unescape(re.search(r'<img src="([^"]+)"', message.html_body).group(1))))
    client.get(_path(unescape(next(h for h in re.findall(r'href="([^"]+)"', message.html_body) if "/m/c/" in h))))
    db.session.expire_all()
    lead = db.session.get(Lead, lead.id)
    assert lead.score == 12
    assert {item["name"]: item["points"] for item in lead.score_breakdown} == {"Opened mail": 2, "Clicked a link": 10}


def test_sent_messages_carry_one_click_list_unsubscribe_headers(app, make_sequence, consenting_lead, enrol,
                                                                make_template):
    from leadflow.mail.delivery import _load, build_email
    from leadflow.scheduler.claims import Claim

    _, _, message = _sent(make_sequence, consenting_lead, enrol, make_template)
    outgoing = _load(Claim([message.id], utcnow()))[0]
    email = build_email(outgoing, utcnow())
    assert email["List-Unsubscribe"] == f"<{message.list_unsubscribe}>"
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_unsubscribe_links_expire_after_a_year_and_then_ask_for_the_address(client, make_lead, monkeypatch):
    from leadflow.sequences import links

    lead = make_lead(email="Ada.Lovelace@example.com")
    lead.marketing_consent = True
    db.session.commit()
    path = f"/m/u/{make_token('unsubscribe', {'l': lead.id})}"
    now = utcnow()
    monkeypatch.setattr(links, "utcnow", lambda: now + timedelta(days=364))
    assert "Unsubscribe from marketing e-mail?" in client.get(path).text, "still works within the year"

    monkeypatch.setattr(links, "utcnow", lambda: now + timedelta(days=366))
    page = client.get(path)
    assert page.status_code == 410 and "This unsubscribe link has expired" in page.text
    assert 'name="email"' in page.text and page.headers["Cache-Control"].startswith("no-store")
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 410, "one click no longer enough"
    for wrong in ("someone.else@example.com", "not an address"):
        refused = client.post(path, data={"email": wrong})
        assert refused.status_code == 422 and "not the address this e-mail was sent to" in refused.text
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).unsubscribed_at is None and db.session.get(Lead, lead.id).marketing_consent
    done = client.post(path, data={"email": " ada.lovelace@EXAMPLE.com "})
    assert done.status_code == 200 and "You are unsubscribed" in done.text
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).marketing_consent is False
    assert "You are unsubscribed" in client.get(path).text, "an expired link of someone who left says so"


def test_links_sent_before_links_carried_a_time_still_unsubscribe_in_one_click(app, client, make_lead):
    from itsdangerous import URLSafeSerializer

    lead = make_lead()
    lead.marketing_consent = True
    db.session.commit()
    legacy = URLSafeSerializer(app.config["SECRET_KEY"], salt="leadflow.seq.unsubscribe").dumps({"l": lead.id})
    assert client.post(f"/m/u/{legacy}", data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert db.session.get(Lead, lead.id).marketing_consent is False
