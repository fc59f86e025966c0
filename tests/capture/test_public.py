"""The public capture endpoints, as a visitor's browser or another site's script uses them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from leadflow.activities.models import Activity
from leadflow.capture import services
from leadflow.capture.models import CaptureForm
from leadflow.extensions import db
from leadflow.leads.models import Lead
from leadflow.leads.review_models import LeadFieldReview

from tests.capture.conftest import form_token

GOOD = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "phone": "+44 20 7946 0958",
        "organization": "Analytical Engines", "message": "Please call me"}


def count(model, *where) -> int:
    db.session.expire_all()
    return db.session.scalar(db.select(db.func.count()).select_from(model).where(*where))


def only_lead() -> Lead:
    db.session.expire_all()
    [lead] = db.session.scalars(db.select(Lead)).all()
    return lead


def post_form(client, slug, data, **kw):
    return client.post(f"/f/{slug}", data=data, **kw)


def test_hosted_page_shows_labelled_fields_and_no_session_cookie(client, capture_form):
    response = client.get("/f/contact-us")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    for label, name in (("First name", "first_name"), ("Email", "email"), ("Message", "message")):
        assert f'<label for="f-{name}">{label}' in page
        assert f'id="f-{name}" name="{name}"' in page
    assert 'name="website"' in page and 'name="form_token"' in page
    assert 'name="viewport"' in page
    assert "Set-Cookie" not in response.headers
    assert "frame-ancestors *" in response.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"


def test_other_pages_still_refuse_framing(client, capture_form):
    response = client.get("/login")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_unknown_or_deactivated_form_is_not_found(client, capture_form):
    assert client.get("/f/no-such-form").status_code == 404
    capture_form.active = False
    db.session.commit()
    response = client.get("/f/contact-us")
    assert response.status_code == 404 and "no longer takes submissions" in response.get_data(as_text=True)
    assert post_form(client, "contact-us", GOOD).status_code == 404


def test_embed_script_frames_the_form_and_passes_the_visit_on(client, capture_form, app):
    app.config["BASE_URL"] = "https://crm.example.com"
    response = client.get("/f/contact-us/embed.js")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert "max-age=300" in response.headers["Cache-Control"]
    assert '"https://crm.example.com/f/contact-us"' in body
    assert "landing_page" in body and "document.referrer" in body and '"utm_source"' in body
    assert "leadflow:resize" in body and "postMessage" not in body.split("addEventListener")[0]


def test_embed_script_points_at_base_url_whatever_the_host_header_says(client, capture_form, app):
    app.config["BASE_URL"] = "https://crm.example.com/"
    body = client.get("/f/contact-us/embed.js", headers={"Host": "evil.example"}).get_data(as_text=True)
    assert 'var frameUrl = "https://crm.example.com/f/contact-us";' in body
    assert "evil.example" not in body
    app.config["BASE_URL"] = "https://example.org/crm"  # LeadFlow served under a path
    body = client.get("/f/contact-us/embed.js", base_url="http://evil.example").get_data(as_text=True)
    assert 'var frameUrl = "https://example.org/crm/f/contact-us";' in body and "evil.example" not in body


HOSTILE_NAMES = [
    "Contact **// document.title='pwned'; /*",
    "Contact */ document.title='pwned'; /*",
    "Contact </script><script>document.title='pwned'</script>",
    "Contact \u2028 line\u2029 break \" & <b> ' \\ end",
]


def _script_literal(value: str) -> str:
    """A string as it may appear in a generated script: JSON with < > & ' escaped (and,
    being ASCII-only, U+2028 and U+2029 too)."""
    literal = json.dumps(value, ensure_ascii=True)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("'", "\\u0027")):
        literal = literal.replace(raw, escaped)
    return literal


NODE_SANDBOX = r"""
const vm = require("vm"), fs = require("fs");
const inserted = [];
const script = {parentNode: {insertBefore: (el) => inserted.push(el)}, nextSibling: null};
const document = {title: "Customer site", referrer: "", currentScript: script,
  createElement: () => ({style: {}, attrs: {}, setAttribute(k, v) { this.attrs[k] = v; }})};
const window = {location: {href: "https://site.example/contact", search: ""}, addEventListener() {}};
const context = {document, window, URL, URLSearchParams};
vm.runInNewContext(fs.readFileSync(process.argv[2], "utf8"), context);
console.log(JSON.stringify({title: document.title, frames: inserted.map((f) => ({title: f.title, src: f.src}))}));
"""


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_form_name_cannot_break_out_of_the_embed_script(client, make_form, app, name, tmp_path):
    app.config["CAPTURE_MIN_FILL_SECONDS"] = 0
    make_form(name=name, slug="contact-us")
    body = client.get("/f/contact-us/embed.js").get_data(as_text=True)
    assert name not in body and "pwned'" not in body and "</script" not in body.lower()
    assert "\u2028" not in body and "\u2029" not in body
    assert f"var formName = {_script_literal(name)};" in body
    assert body.count("pwned") == (1 if "pwned" in name else 0)  # once, inside that literal
    if not Path("/usr/bin/node").exists():
        return
    script = tmp_path / "embed.js"
    script.write_text(body, encoding="utf-8")
    subprocess.run(["/usr/bin/node", "--check", str(script)], check=True, capture_output=True, timeout=60)
    sandbox = tmp_path / "sandbox.js"
    sandbox.write_text(NODE_SANDBOX, encoding="utf-8")
    run = subprocess.run(["/usr/bin/node", str(sandbox), str(script)], check=True, capture_output=True,
                         text=True, timeout=60)
    result = json.loads(run.stdout)
    assert result["title"] == "Customer site"
    [frame] = result["frames"]
    assert frame["title"] == name and frame["src"].startswith(app.config["BASE_URL"].rstrip("/") + "/f/contact-us?")


def test_embed_script_for_a_missing_form_is_a_harmless_404(client, app):
    response = client.get("/f/nope/embed.js")
    assert response.status_code == 404 and response.mimetype == "text/javascript"


def test_form_encoded_submission_creates_a_lead_with_activity_and_tracking(client, capture_form):
    token = form_token(client, "contact-us", "?embed=1&utm_source=news&landing_page=https://site.example/pricing"
                                             "&referrer=javascript:alert(1)")
    response = post_form(client, "contact-us", {**GOOD, "form_token": token, "utm_source": "news",
                                                "landing_page": "https://site.example/pricing"})
    assert response.status_code == 200
    assert "Thank you" in response.get_data(as_text=True)
    lead = only_lead()
    assert (lead.first_name, lead.email, lead.phone) == ("Ada", "ada@example.com", "+442079460958")
    assert lead.organization.name == "Analytical Engines"
    assert lead.custom_fields == {"message": "Please call me"}
    assert lead.source == "web form" and lead.utm_source == "news"
    assert lead.landing_page == "https://site.example/pricing"
    [activity] = db.session.scalars(db.select(Activity).where(Activity.kind == "form_submission")).all()
    assert activity.subject == "Submitted Form “Contact us”"
    assert activity.details["values"]["custom_fields"] == {"message": "Please call me"}
    assert activity.details["values"]["utm_source"] == "news" and activity.details["form_name"] == "Contact us"
    assert db.session.get(CaptureForm, capture_form.id).submission_count == 1


def test_hosted_page_passes_only_web_addresses_on_as_tracking(client, capture_form):
    page = client.get("/f/contact-us?embed=1&landing_page=javascript:alert(1)&utm_source=x").get_data(as_text=True)
    assert "javascript:" not in page
    assert 'name="utm_source" value="x"' in page


def test_json_submission_from_another_site(client, capture_form):
    token = client.get("/f/contact-us/token").get_json()["token"]
    response = client.post("/f/contact-us", json={**GOOD, "form_token": token},
                           headers={"Origin": "https://customer.example"})
    assert response.status_code == 200
    assert response.get_json()["ok"] is True and "Thank you" in response.get_json()["message"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Set-Cookie" not in response.headers
    assert only_lead().email == "ada@example.com"


def test_a_submission_from_a_signed_in_browser_neither_reads_nor_sets_its_session(
        client, capture_form, login_as, monkeypatch):
    """A capture form signs nobody in: the session cookie a signed-in browser sends along is
    not decoded, and the answer sets none."""
    from leadflow.web import HttpsAwareSessionInterface

    login_as("admin")  # the client now sends a signed-in session cookie with every request
    token = form_token(client, "contact-us")
    decoded = []
    original = HttpsAwareSessionInterface.get_signing_serializer
    monkeypatch.setattr(HttpsAwareSessionInterface, "get_signing_serializer",
                        lambda self, flask_app: decoded.append(1) or original(self, flask_app))

    response = post_form(client, "contact-us", {**GOOD, "form_token": token})
    assert response.status_code == 200 and "Thank you" in response.get_data(as_text=True)
    assert "Set-Cookie" not in response.headers
    assert decoded == []
    assert only_lead().email == "ada@example.com"
    assert client.get("/leads").status_code == 200 and decoded  # pages read it as before


def test_a_locked_database_at_the_form_lookup_still_takes_the_submission_once(client, capture_form, monkeypatch):
    real_active_form, calls = services.active_form, []

    def active_form(slug):
        calls.append(slug)
        if len(calls) == 2:  # the POST's first query, before anything is saved
            raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))
        return real_active_form(slug)

    monkeypatch.setattr(services, "active_form", active_form)
    token = client.get("/f/contact-us/token").get_json()["token"]
    response = client.post("/f/contact-us", json={**GOOD, "form_token": token})
    assert response.status_code == 200 and response.get_json()["ok"] is True
    assert len(calls) == 3, "the submission ran again after the lock"
    assert only_lead().email == "ada@example.com"
    assert db.session.get(CaptureForm, capture_form.id).submission_count == 1


def test_a_database_that_stays_locked_says_so_with_503_and_saves_nothing(client, capture_form, monkeypatch, app):
    app.config.update(DB_BUSY_RETRY_ATTEMPTS=2)
    token = client.get("/f/contact-us/token").get_json()["token"]

    def locked(_submission):
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(services, "submit", locked)
    response = client.post("/f/contact-us", json={**GOOD, "form_token": token})
    assert response.status_code == 503 and response.headers["Retry-After"].isdigit()
    assert response.get_json()["ok"] is False and "try again" in response.get_json()["message"]
    page = client.post("/f/contact-us", data={**GOOD, "form_token": token})
    assert page.status_code == 503 and "nothing was saved" in page.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count(Lead.id))) == 0


def test_cors_preflight_is_answered(client, capture_form):
    response = client.open("/f/contact-us", method="OPTIONS", headers={
        "Origin": "https://customer.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in response.headers["Access-Control-Allow-Headers"]


def test_honeypot_gets_a_normal_thank_you_and_saves_nothing(client, capture_form, caplog, monkeypatch):
    from leadflow.capture import views

    # The migrations' logging set-up disables loggers that existed before it ran.
    monkeypatch.setattr(views.log, "disabled", False)
    token = form_token(client, "contact-us")
    with caplog.at_level("INFO", logger="leadflow.capture.views"):
        response = post_form(client, "contact-us", {**GOOD, "form_token": token, "website": "http://spam.example"})
    assert response.status_code == 200 and "Thank you" in response.get_data(as_text=True)
    assert count(Lead) == 0
    assert "honeypot" in caplog.text


def test_a_form_sent_too_fast_is_shown_again_with_the_values(client, capture_form, app):
    app.config["CAPTURE_MIN_FILL_SECONDS"] = 60
    token = form_token(client, "contact-us")
    response = post_form(client, "contact-us", {**GOOD, "form_token": token})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "That was quick" in page and 'value="ada@example.com"' in page
    assert count(Lead) == 0


@pytest.mark.parametrize("token", ["expired", "garbage", ""])
def test_an_expired_or_forged_token_keeps_what_the_visitor_typed(client, capture_form, app, token):
    if token == "expired":
        token = form_token(client, "contact-us")
        app.config["CAPTURE_TOKEN_MAX_AGE"] = -1
    response = post_form(client, "contact-us", {**GOOD, "form_token": token})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Your details are still here" in page
    assert 'value="ada@example.com"' in page and "Please call me" in page
    assert 'name="form_token" value="' in page
    assert count(Lead) == 0


def test_a_token_for_another_form_is_refused(client, capture_form, make_form):
    other = make_form(name="Other", slug="other")
    token = form_token(client, "other")
    response = client.post("/f/contact-us", json={**GOOD, "form_token": token})
    assert response.status_code == 422
    assert "form_token" in response.get_json()["errors"]
    assert response.get_json()["form_token"], "a fresh token comes back"
    assert other.id != capture_form.id and count(Lead) == 0


def test_rate_limit_per_ip_answers_429(make_app, capture_form):
    limited = make_app(RATELIMIT_ENABLED=True, CAPTURE_RATE_LIMIT_PER_IP="2 per minute", CAPTURE_MIN_FILL_SECONDS=0)
    client = limited.test_client()
    statuses = [client.post("/f/contact-us", data={"first_name": "x"}).status_code for _ in range(3)]
    assert statuses[:2] == [422, 422] and statuses[2] == 429
    response = client.post("/f/contact-us", json={"first_name": "x"})
    assert response.status_code == 429 and "Too many" in response.get_json()["message"]
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert "Try again in " in response.get_json()["message"]


def test_oversized_body_is_refused_with_413(client, capture_form, app):
    app.config["CAPTURE_MAX_BODY_BYTES"] = 1000
    response = post_form(client, "contact-us", {**GOOD, "message": "x" * 5000})
    assert response.status_code == 413 and "too large" in response.get_data(as_text=True).lower()
    response = client.post("/f/contact-us", json={**GOOD, "message": "x" * 5000})
    assert response.status_code == 413 and response.get_json()["ok"] is False
    assert count(Lead) == 0


@pytest.mark.parametrize("content_type, body", [
    ("application/x-www-form-urlencoded", b"first_name=%FF%FE&email=a%40example.com"),
    ("application/x-www-form-urlencoded", b"first_name=\xff\xfe"),
    ("application/json", b'{"first_name": "\xff"}'),
])
def test_invalid_utf8_is_refused_with_a_clear_message(client, capture_form, content_type, body):
    response = client.post("/f/contact-us", data=body, content_type=content_type)
    assert response.status_code == 400
    assert "UTF-8" in response.get_data(as_text=True)
    assert count(Lead) == 0


@pytest.mark.parametrize("body", [b"[1, 2]", b"{not json"])
def test_json_that_is_not_an_object_is_refused(client, capture_form, body):
    response = client.post("/f/contact-us", data=body, content_type="application/json")
    assert response.status_code == 400 and response.get_json()["ok"] is False


def test_missing_required_fields_are_marked(client, capture_form):
    token = form_token(client, "contact-us")
    response = post_form(client, "contact-us", {"form_token": token, "last_name": "Lovelace"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Please fill in “First name”" in page and "Please fill in “Email”" in page
    assert 'aria-invalid="true"' in page and 'value="Lovelace"' in page
    assert count(Lead) == 0


def test_a_missing_field_and_a_bad_email_are_marked_together(client, capture_form):
    token = form_token(client, "contact-us")
    response = post_form(client, "contact-us", {"form_token": token, "email": "not-an-email", "phone": "12"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Please fill in “First name”" in page
    assert "not a valid email" in page and "not a valid phone number" in page
    assert count(Lead) == 0


@pytest.mark.parametrize("changes, field, message", [
    ({"email": 12345}, "email", "Send this field as text."),
    ({"first_name": ["Ada"]}, "first_name", "Send this field as text."),
    ({"email": "not-an-email"}, "email", "not a valid email"),
    ({"message": {"nested": True}}, "message", "Send this field as text."),
])
def test_wrong_types_get_a_json_error_per_field(client, capture_form, changes, field, message):
    token = client.get("/f/contact-us/token").get_json()["token"]
    response = client.post("/f/contact-us", json={**GOOD, **changes, "form_token": token})
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert message in " ".join(errors[field])
    assert count(Lead) == 0


def test_script_tags_in_names_are_stored_as_text_and_escaped(client, capture_form, login_as):
    token = form_token(client, "contact-us")
    evil = '<script>alert("x")</script>'
    post_form(client, "contact-us", {**GOOD, "form_token": token, "first_name": evil})
    lead = only_lead()
    assert lead.first_name == evil
    _, staff = login_as("admin")
    page = staff.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert evil not in page and "&lt;script&gt;" in page


def test_extra_fields_are_ignored(client, capture_form, make_user):
    boss = make_user("admin")
    db.session.commit()
    token = form_token(client, "contact-us")
    post_form(client, "contact-us", {**GOOD, "form_token": token, "owner_id": str(boss.id), "score": "99",
                                     "stage_id": "1", "lifecycle": "customer", "title": "CEO", "value": "1000000"})
    lead = only_lead()
    assert lead.owner_id is None and lead.score == 0 and lead.lifecycle == "lead"
    assert lead.title is None, "title is not one of this form's fields"
    assert lead.value_cents is None


def test_resubmission_with_the_same_email_adds_to_the_lead_without_overwriting_it(client, capture_form):
    post_form(client, "contact-us", {**GOOD, "form_token": form_token(client, "contact-us")})
    post_form(client, "contact-us", {**GOOD, "email": "ADA@example.com", "phone": "+1 415 555 0132",
                                     "message": "Second note", "form_token": form_token(client, "contact-us")})
    lead = only_lead()
    assert lead.phone == "+442079460958" and lead.custom_fields == {"message": "Please call me"}
    assert count(Activity, Activity.lead_id == lead.id, Activity.kind == "form_submission") == 2
    assert db.session.get(CaptureForm, capture_form.id).submission_count == 2


def test_consent_is_recorded_with_text_time_and_ip(client, make_form, app):
    app.config["CAPTURE_MIN_FILL_SECONDS"] = 0
    make_form(consent_text="Send me product news.")
    page = client.get("/f/contact-us").get_data(as_text=True)
    assert "Send me product news." in page and 'name="consent"' in page
    post_form(client, "contact-us", {**GOOD, "consent": "yes", "form_token": form_token(client, "contact-us")},
              environ_base={"REMOTE_ADDR": "203.0.113.5"})
    lead = only_lead()
    assert lead.marketing_consent and lead.consent_at is not None
    assert "Send me product news." in lead.consent_source and "203.0.113.5" in lead.consent_source
    activity = db.session.scalar(db.select(Activity).where(Activity.kind == "form_submission"))
    assert activity.details["consent"]["ip"] == "203.0.113.5"


def test_unticked_consent_records_nothing(client, make_form, app):
    app.config["CAPTURE_MIN_FILL_SECONDS"] = 0
    make_form(consent_text="Send me product news.")
    post_form(client, "contact-us", {**GOOD, "form_token": form_token(client, "contact-us")})
    assert only_lead().marketing_consent is False


def test_redirect_after_submission(client, make_form, app):
    app.config["CAPTURE_MIN_FILL_SECONDS"] = 0
    make_form(redirect_url="https://site.example/thanks")
    page = client.get("/f/contact-us")
    assert "form-action 'self' https://site.example" in page.headers["Content-Security-Policy"]
    response = post_form(client, "contact-us", {**GOOD, "form_token": form_token(client, "contact-us")})
    assert response.status_code == 303 and response.headers["Location"] == "https://site.example/thanks"
    embedded = post_form(client, "contact-us", {**GOOD, "embed": "1", "form_token": form_token(client, "contact-us")})
    assert embedded.status_code == 200 and "leadflow:redirect" in embedded.get_data(as_text=True)
    as_json = client.post("/f/contact-us", json={**GOOD, "form_token": form_token(client, "contact-us")})
    assert as_json.get_json()["redirect"] == "https://site.example/thanks"


def test_select_field_accepts_only_its_options(client, make_form, app):
    app.config["CAPTURE_MIN_FILL_SECONDS"] = 0
    make_form(custom=[{"key": "budget", "label": "Budget", "type": "select", "options": "Small\nLarge",
                       "required": True, "order": 9}])
    response = post_form(client, "contact-us", {**GOOD, "budget": "Huge", "form_token": form_token(client, "contact-us")})
    assert response.status_code == 422 and "Choose one of the listed options." in response.get_data(as_text=True)
    post_form(client, "contact-us", {**GOOD, "budget": "Large", "form_token": form_token(client, "contact-us")})
    assert only_lead().custom_fields == {"budget": "Large"}


def test_a_locked_database_is_retried_and_the_submission_kept(client, capture_form, monkeypatch):
    from sqlalchemy.exc import OperationalError

    real_commit = db.session.commit
    failures = []

    def flaky_commit():
        if not failures:
            failures.append(1)
            raise OperationalError("COMMIT", {}, Exception("database is locked"))
        real_commit()

    token = form_token(client, "contact-us")
    monkeypatch.setattr(db.session, "commit", flaky_commit)
    response = client.post("/f/contact-us", data={**GOOD, "form_token": token})
    monkeypatch.undo()
    assert response.status_code == 200
    assert failures == [1]
    assert count(Lead) == 1


def test_a_failing_arrival_step_does_not_lose_the_submission(client, capture_form, monkeypatch):
    from leadflow.leads import events

    def broken(ids, channel):
        raise RuntimeError("alerts are down")

    monkeypatch.setitem(events.bus._handlers, events.ARRIVED, [(50, broken)])
    response = post_form(client, "contact-us", {**GOOD, "form_token": form_token(client, "contact-us")})
    assert response.status_code == 200
    assert count(Lead) == 1


# --- a form token is good for one submission ------------------------------------------

def _page_token(page: str) -> str:
    import re

    return re.search(r'name="form_token" value="([^"]+)"', page).group(1)


def test_a_replayed_form_post_is_refused_with_the_form_again(client, capture_form):
    token = form_token(client, "contact-us")
    assert post_form(client, "contact-us", {**GOOD, "form_token": token}).status_code == 200
    replay = post_form(client, "contact-us", {**GOOD, "first_name": "Adah", "form_token": token})
    page = replay.get_data(as_text=True)
    assert replay.status_code == 409
    assert "This form was already sent — please submit it again if you meant to." in page
    assert 'value="Adah"' in page and "Please call me" in page  # what the visitor typed
    fresh = _page_token(page)
    assert fresh != token
    assert count(Lead) == 1 and only_lead().first_name == "Ada"
    assert db.session.get(CaptureForm, capture_form.id).submission_count == 1
    again = post_form(client, "contact-us", {**GOOD, "first_name": "Adah", "form_token": fresh})
    assert again.status_code == 200 and only_lead().first_name == "Ada"  # the fresh token is taken
    review = db.session.scalar(db.select(LeadFieldReview))  # and the differing name waits for review
    assert (review.field, review.submitted_value) == ("first_name", "Adah")


def test_a_replayed_json_post_gets_409_with_a_json_error_and_a_fresh_token(client, capture_form):
    token = client.get("/f/contact-us/token").get_json()["token"]
    assert client.post("/f/contact-us", json={**GOOD, "form_token": token}).status_code == 200
    replay = client.post("/f/contact-us", json={**GOOD, "form_token": token})
    body = replay.get_json()
    assert replay.status_code == 409 and body["ok"] is False
    assert body["error"] == "This form was already sent"
    assert body["errors"] == {"form_token": ["This form was already sent — please submit it again if you meant to."]}
    assert body["form_token"] and body["form_token"] != token
    assert count(Lead) == 1
    assert client.post("/f/contact-us", json={**GOOD, "form_token": body["form_token"]}).status_code == 200


def test_a_refused_submission_comes_back_with_a_new_token_and_the_typed_values(client, capture_form):
    token = form_token(client, "contact-us")
    refused = post_form(client, "contact-us", {**GOOD, "email": "", "form_token": token})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "Please fill in" in page
    assert 'value="Ada"' in page and "Please call me" in page
    fresh = _page_token(page)
    assert fresh != token
    assert post_form(client, "contact-us", {**GOOD, "form_token": fresh}).status_code == 200
    assert count(Lead) == 1


def test_a_token_without_an_id_is_not_accepted(client, capture_form, app):
    from itsdangerous import URLSafeTimedSerializer

    from leadflow.capture.spam import TOKEN_SALT

    old_style = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=TOKEN_SALT).dumps(
        {"f": capture_form.id, "t": 0})
    for _ in range(2):
        response = post_form(client, "contact-us", {**GOOD, "form_token": old_style})
        assert response.status_code == 422 and "We could not verify this form" in response.get_data(as_text=True)
    assert count(Lead) == 0


def test_a_honeypot_post_with_a_used_token_still_gets_the_thank_you(client, capture_form):
    token = form_token(client, "contact-us")
    assert post_form(client, "contact-us", {**GOOD, "form_token": token}).status_code == 200
    bot = post_form(client, "contact-us", {**GOOD, "website": "http://spam.example", "form_token": token})
    assert bot.status_code == 200 and "Thank you" in bot.get_data(as_text=True)


@pytest.mark.real_commits  # submissions in threads, each on its own connection
def test_concurrent_replays_of_one_token_save_one_submission(app, capture_form):
    """Two submissions with the same token at the same moment, each on its own connection."""
    import threading

    token = app.test_client().get("/f/contact-us/token").get_json()["token"]
    db.session.commit()
    barrier = threading.Barrier(2, timeout=30)
    statuses: list[int] = []

    def send(first_name: str):
        client = app.test_client()
        barrier.wait()
        statuses.append(client.post("/f/contact-us", json={**GOOD, "first_name": first_name,
                                                           "email": f"{first_name}@example.com",
                                                           "form_token": token}).status_code)

    threads = [threading.Thread(target=send, args=(name,)) for name in ("ada", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [200, 409]
    assert count(Lead) == 1


def test_used_token_ids_are_forgotten_once_their_tokens_have_expired(app, capture_form):
    from datetime import timedelta

    from leadflow.capture import services
    from leadflow.capture.models import CaptureTokenUse
    from leadflow.db import utcnow
    from leadflow.scheduler.registry import SWEEPS

    now = utcnow()
    max_age = timedelta(seconds=app.config["CAPTURE_TOKEN_MAX_AGE"])
    assert services.record_token_use("old", capture_form.id, now - max_age - timedelta(minutes=1))
    assert services.record_token_use("recent", capture_form.id, now - max_age + timedelta(minutes=1))
    assert not services.record_token_use("recent", capture_form.id, now)  # and the transaction goes on
    db.session.commit()
    assert SWEEPS["capture-tokens"].func is services.prune_token_uses
    assert services.prune_token_uses(now) == 1
    db.session.commit()
    assert set(db.session.scalars(db.select(CaptureTokenUse.token_id))) == {"recent"}
