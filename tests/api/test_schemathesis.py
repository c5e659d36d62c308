"""Property-based conformance over the OpenAPI document (schemathesis), against the real server.

For generated valid and invalid requests, authenticated as the operator, the API never answers
5xx, and every response matches the status codes, content types and schemas it declares.

The document is built in-process at collection time (schemathesis' lazy fixture loader does not
work with pytest 9), and test_served_document_is_the_one_tested proves the server serves the
same one. The event stream is left out: it never ends, so there is no response to check.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.main import openapi_document
from settlement.testing.app import SettlementApp

MAX_EXAMPLES = 30

schema = schemathesis.openapi.from_dict(openapi_document()).exclude(path="/v1/events")
schema.config.generation.update(max_examples=MAX_EXAMPLES)


def test_served_document_is_the_one_tested(api: SettlementApp) -> None:
    served = api.client(anonymous=True).get("/openapi.json")
    assert served.status_code == 200
    assert served.json() == openapi_document()


@pytest.mark.chain
@schema.parametrize()
def test_openapi_conformance(case: Any, api: SettlementApp) -> None:
    case.call_and_validate(
        base_url=api.base_url,
        headers={"Authorization": f"Bearer {api.operator_key}"},
        # Schema-valid is not domain-valid: buyer == seller, an unknown id, a cursor this API
        # never issued are 422 by design (issue: invalid input is 422), so that check is off.
        excluded_checks=[positive_data_acceptance],
    )
