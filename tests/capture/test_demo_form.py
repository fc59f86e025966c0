"""The demo workspace includes a working public form at /f/demo-contact."""

from __future__ import annotations

import leadflow_demo as demo
from leadflow.extensions import db
from leadflow.leads.models import Lead

from tests.capture.conftest import form_token


def test_demo_form_takes_a_submission_and_rotates_it_to_the_inbound_team(app, client):
    demo.seed_demo(lead_count=0)
    demo.seed_demo(lead_count=0)  # seeding twice keeps one form
    db.session.commit()
    app.config["CAPTURE_MIN_FILL_SECONDS"] = 0
    page = client.get("/f/demo-contact").get_data(as_text=True)
    assert "Work email" in page and "How can we help?" in page and "product news" in page
    response = client.post("/f/demo-contact", data={
        "first_name": "Grace", "email": "grace@example.com", "message": "Demo please", "consent": "yes",
        "form_token": form_token(client, "demo-contact")})
    assert response.status_code == 200
    lead = db.session.scalar(db.select(Lead).where(Lead.email_key == "grace@example.com"))
    assert lead.marketing_consent and lead.custom_fields == {"message": "Demo please"}
    assert lead.owner is not None and lead.owner.team.name == "Inbound"
