"""Matched trades for tests, and waiting for a trade's status without ever hanging.

`matched_trade` follows the consent rules: the buyer submits (an alleged trade), the seller
affirms, and only then does the engine lock the buyer's coins. `wait_for_status` polls with a
deadline and, when the status does not come, fails with the trade's last state and its
transitions, which usually say why (an error code, a revert).
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from settlement.testing.brokers import Broker

DEFAULT_WAIT_S = 30.0
POLL_S = 0.02
# Once here a trade never moves again: waiting for another status is pointless.
FINAL_STATUSES = frozenset({"RELEASED", "REFUNDED", "FAILED", "WITHDRAWN", "LAPSED"})
_refs = itertools.count(1)


class TradeWaitFailed(AssertionError):
    """The awaited status did not come: the message carries the last state and the transitions."""


def matched_trade(
    buyer: Broker,
    seller: Broker,
    *,
    instrument: str = "D05.SI",
    quantity: str = "100",
    price: str = "42.15",
    currency: str = "SGD",
    **fields: Any,
) -> dict[str, Any]:
    """Submit as the buyer, affirm as the seller: the trade both sides agreed (PENDING, or
    already LOCKED if the engine was quick). `fields` go into the submission (e.g. deadline)."""
    number = next(_refs)
    body = {
        "trade_ref": f"B-{uuid.uuid4().hex[:8]}-{number}",
        "buyer_id": buyer.id,
        "seller_id": seller.id,
        "instrument": instrument,
        "quantity": str(quantity),
        "price": str(price),
        "currency": currency,
        **fields,
    }
    submitted = buyer.client.post("/v1/trades", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert submitted.status_code == 202, f"submitting {body}: {submitted.status_code} {submitted.text}"
    trade: dict[str, Any] = submitted.json()
    affirmed = seller.client.post(
        f"/v1/trades/{trade['id']}/affirm", json={"trade_ref": f"S-{uuid.uuid4().hex[:8]}-{number}"}
    )
    assert affirmed.status_code == 202, f"affirming {trade['id']}: {affirmed.status_code} {affirmed.text}"
    matched: dict[str, Any] = affirmed.json()
    return matched


def wait_for_status(
    client: httpx.Client, trade: dict[str, Any] | str, status: str, timeout_s: float = DEFAULT_WAIT_S
) -> dict[str, Any]:
    """The trade once it has `status`. Fails at once if it reaches another final status, or after
    timeout_s, with its last state and transitions in the message."""
    trade_id = trade if isinstance(trade, str) else str(trade["id"])
    deadline = time.monotonic() + timeout_s
    seen: list[str] = []
    while True:
        response = client.get(f"/v1/trades/{trade_id}")
        assert response.status_code == 200, f"reading trade {trade_id}: {response.status_code} {response.text}"
        current: dict[str, Any] = response.json()
        if not seen or seen[-1] != current["status"]:
            seen.append(current["status"])
        if current["status"] == status:
            return current
        final = current["status"] in FINAL_STATUSES
        if final or time.monotonic() >= deadline:
            why = f"reached {current['status']}, which is final" if final else f"not there after {timeout_s}s"
            transitions = client.get(f"/v1/trades/{trade_id}/transitions")
            raise TradeWaitFailed(
                f"trade {trade_id} never became {status}: {why}\n"
                f"statuses seen: {' -> '.join(seen)}\n"
                f"last state: {json.dumps(current, indent=1)}\n"
                f"transitions: {json.dumps(transitions.json(), indent=1)}"
            )
        time.sleep(POLL_S)
