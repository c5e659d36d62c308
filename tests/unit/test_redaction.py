"""URLs reach messages and logs without credentials or query strings."""

from __future__ import annotations

import logging

import pytest

from settlement.redaction import describe_error, install_log_redaction, redact_text, redact_url

LEAKY_URL = "https://alice:hunter2@rpc.example.com:8443/v3/path?apikey=TOPSECRET&x=1#frag"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (LEAKY_URL, "https://rpc.example.com:8443/v3/path"),
        ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
        ("http://user@[::1]:8545/?k=v", "http://[::1]:8545/"),
        ("postgresql+psycopg://settlement:pw@db:5432/prod?sslmode=require", "postgresql+psycopg://db:5432/prod"),
        ("sqlite:////var/data/settlement.db", "sqlite:////var/data/settlement.db"),
    ],
)
def test_redact_url_keeps_scheme_host_port_path(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_text_cleans_every_url_and_quoted_path_in_a_message() -> None:
    message = (
        f"no answer at {LEAKY_URL}: HTTPConnectionPool(host='rpc.example.com', port=8443): "
        "Max retries exceeded with url: /v3/path?apikey=TOPSECRET (Caused by ...); "
        '"POST /?apikey=TOPSECRET HTTP/1.1" 200'
    )
    redacted = redact_text(message)
    assert "TOPSECRET" not in redacted and "hunter2" not in redacted and "alice" not in redacted
    assert "https://rpc.example.com:8443/v3/path" in redacted and "url: /v3/path " in redacted
    assert redact_text("is it ready? yes") == "is it ready? yes"


def test_describe_error_names_the_type() -> None:
    assert describe_error(ConnectionError(f"down: {LEAKY_URL}")) == (
        "ConnectionError: down: https://rpc.example.com:8443/v3/path"
    )


def test_log_records_are_redacted_messages_arguments_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    install_log_redaction()  # idempotent
    log = logging.getLogger("tests.redaction")
    with caplog.at_level(logging.DEBUG, logger="tests.redaction"):
        log.debug("Making request. URI: %s", LEAKY_URL)
        log.warning(f"inline {LEAKY_URL}")
        log.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", "/v1/trades?cursor=TOPSECRET", "1.1", 200)
        try:
            raise ConnectionError(f"Max retries exceeded with url: /v3/path?apikey=TOPSECRET ({LEAKY_URL})")
        except ConnectionError:
            log.exception("cycle failed")
    assert caplog.text.count("rpc.example.com:8443/v3/path") >= 3
    assert "TOPSECRET" not in caplog.text and "hunter2" not in caplog.text
    # Arguments stay arguments (uvicorn's access formatter unpacks record.args).
    access = caplog.records[2]
    assert isinstance(access.args, tuple) and access.args[2] == "/v1/trades"
