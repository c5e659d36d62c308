"""The off-devnet rule, over settings and chain id: which defaults it refuses, and how it says so."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from settlement.config import Settings
from settlement.errors import UnsafeConfiguration
from settlement.safety import devnet_defaults_in_force, is_devnet, require_safe_settings

STRONG: dict[str, Any] = {
    "operator_key": secrets.token_urlsafe(32),
    "webhook_secret": secrets.token_urlsafe(32),
    "custodial_devnet_keys": False,
}


@pytest.mark.parametrize(
    ("chain_id", "api_host", "devnet"),
    [
        (31337, "127.0.0.1", True),
        (31337, "localhost", True),
        (31337, "::1", True),
        (31337, "0.0.0.0", False),
        (31337, "api.example.com", False),
        (1, "127.0.0.1", False),
        (11155111, "127.0.0.1", False),
    ],
)
def test_the_devnet_is_chain_31337_served_on_loopback(chain_id: int, api_host: str, devnet: bool) -> None:
    assert is_devnet(Settings(api_host=api_host), chain_id) is devnet


def test_the_devnet_runs_with_its_defaults() -> None:
    require_safe_settings(Settings(), 31337)


def test_off_the_devnet_the_defaults_are_refused_in_one_line_naming_each_setting() -> None:
    with pytest.raises(UnsafeConfiguration) as refused:
        require_safe_settings(Settings(), 1)
    line = refused.value.detail
    assert "\n" not in line
    assert line.startswith(
        "refusing to start off the devnet: SETTLEMENT_OPERATOR_KEY is the devnet default; "
        "set a random key of at least 32 bytes"
    )
    assert "SETTLEMENT_WEBHOOK_SECRET is the devnet default" in line
    assert "SETTLEMENT_CUSTODIAL_DEVNET_KEYS is true" in line
    assert "chain id 1" in line


def test_a_public_api_host_is_off_the_devnet_even_on_chain_31337() -> None:
    with pytest.raises(UnsafeConfiguration, match="SETTLEMENT_OPERATOR_KEY is the devnet default"):
        require_safe_settings(Settings(api_host="0.0.0.0"), 31337)


@pytest.mark.parametrize("field", ["operator_key", "webhook_secret"])
def test_secrets_shorter_than_32_random_bytes_are_refused(field: str) -> None:
    short: dict[str, Any] = {**STRONG, field: secrets.token_urlsafe(31)}  # 42 characters
    problems = devnet_defaults_in_force(Settings(**short))
    assert len(problems) == 1 and problems[0].startswith(f"SETTLEMENT_{field.upper()} is shorter than 32 random bytes")
    assert devnet_defaults_in_force(Settings(**{**STRONG, field: secrets.token_urlsafe(32)})) == []


def test_strong_settings_start_anywhere() -> None:
    require_safe_settings(Settings(**STRONG), 1)
    require_safe_settings(Settings(**STRONG, api_host="0.0.0.0"), 137)
