"""Standard Webhooks signatures: id, timestamp and body are signed; old or future timestamps fail."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from settlement.api.webhooks import signed_headers, verify

SECRET = "a-webhook-secret-of-a-reasonable-length-0123456789"
BODY = b'{"id":"d-1","type":"trade.status","data":{"status":"LOCKED"}}'


def test_the_signature_is_standard_webhooks_v1() -> None:
    headers = signed_headers(SECRET, "d-1", BODY, timestamp=1_700_000_000)
    digest = hmac.new(SECRET.encode(), b"d-1.1700000000." + BODY, hashlib.sha256).digest()
    assert headers == {
        "webhook-id": "d-1",
        "webhook-timestamp": "1700000000",
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


def test_verify_accepts_a_fresh_genuine_delivery_with_any_header_case() -> None:
    headers = signed_headers(SECRET, "d-1", BODY)
    assert verify(SECRET, headers, BODY)
    assert verify(SECRET, {k.title(): v for k, v in headers.items()}, BODY)
    rotated = {**headers, "webhook-signature": "v1,b2xkLXNlY3JldA== " + headers["webhook-signature"]}
    assert verify(SECRET, rotated, BODY)


def test_verify_rejects_tampering_another_secret_and_missing_headers() -> None:
    headers = signed_headers(SECRET, "d-1", BODY)
    assert not verify(SECRET, headers, BODY.replace(b"LOCKED", b"RELEASED"))
    assert not verify(SECRET, {**headers, "webhook-id": "d-2"}, BODY)
    assert not verify("another-secret", headers, BODY)
    for missing in headers:
        assert not verify(SECRET, {k: v for k, v in headers.items() if k != missing}, BODY)


def test_verify_rejects_replays_and_timestamps_from_the_future() -> None:
    now = time.time()
    old = signed_headers(SECRET, "d-1", BODY, timestamp=int(now) - 301)
    future = signed_headers(SECRET, "d-1", BODY, timestamp=int(now) + 301)
    assert not verify(SECRET, old, BODY, now=now)
    assert not verify(SECRET, future, BODY, now=now)
    assert verify(SECRET, old, BODY, tolerance_s=600, now=now)
    assert not verify(SECRET, {**old, "webhook-timestamp": "-5"}, BODY, now=now)


def test_a_whsec_secret_is_used_as_its_decoded_bytes() -> None:
    raw = b"\x01\x02 thirty-two bytes of key material"
    secret = "whsec_" + base64.b64encode(raw).decode()
    headers = signed_headers(secret, "d-1", BODY, timestamp=1_700_000_000)
    digest = hmac.new(raw, b"d-1.1700000000." + BODY, hashlib.sha256).digest()
    assert headers["webhook-signature"] == "v1," + base64.b64encode(digest).decode()
