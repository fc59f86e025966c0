"""Schemathesis walks /api/v1/openapi.json and sends generated requests (valid and invalid)
to every operation through the app's WSGI interface: no answer may be a server error, and
every answer must be one the document declares (status, headers, content type, body schema,
405 with Allow, 401 without a token).

One check is left out: "positive data acceptance" expects every schema-valid request to
succeed, but some refusals depend on more than a schema can say (a phone number that is
real, a cursor this API gave out, a lead whose email already exists); the document lists
them as 400 and 422 answers, and tests/api/test_openapi.py checks each rule."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

EXAMPLES_PER_OPERATION = 60


def test_the_api_answers_as_its_openapi_document_says(app, make_token):
    _, plain, _ = make_token(role="admin")
    auth = {"Authorization": f"Bearer {plain}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    # (Schemathesis leaves out the operation that serves the document itself.)
    assert {op.label for op in operations} >= {"GET /leads", "POST /leads", "GET /leads/{lead_id}"}

    for operation in operations:
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(operation.as_strategy())
        def check(case):
            # The suite's client: each request in an app context of its own, as in production.
            response = case.call(session=app.test_client(), headers=auth)
            try:
                case.validate_response(response, headers=auth,
                                       excluded_checks=[schemathesis.checks.positive_data_acceptance])
            except BaseException as exc:  # schemathesis raises a FailureGroup; collect and go on
                failures.append(f"{operation.label}: {str(exc)[:2000]}")

        check()
    assert not failures, "\n\n".join(dict.fromkeys(failures))
