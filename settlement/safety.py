"""What the service refuses to run with off the devnet: one rule, over the settings and the chain.

The defaults make the devnet work with nothing configured, and every one of them is public: the
operator key and webhook secret are in this repository, and custodial devnet keys mean the
service signs with the brokers' keys from the manifest. Off the devnet (a chain other than
anvil's 31337, or an API reachable beyond loopback) that would hand the operator's powers, or
the brokers' funds, to anyone who has read the README. SettlementService checks this when it is
built, so the API, the CLI and anything else that opens the service are covered alike.
"""

from __future__ import annotations

import ipaddress

from settlement.config import DEVNET_CHAIN_ID, DEVNET_OPERATOR_KEY, Settings, env_var
from settlement.errors import UnsafeConfiguration

DEVNET_WEBHOOK_SECRET = str(Settings.model_fields["webhook_secret"].default)
# 32 random bytes are 43 characters of url-safe base64 (secrets.token_urlsafe(32)). Length is
# what can be checked; the key's randomness is the operator's part.
SECRET_MIN_CHARS = 43


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


def is_devnet(settings: Settings, chain_id: int) -> bool:
    return chain_id == DEVNET_CHAIN_ID and is_loopback(settings.api_host)


def devnet_defaults_in_force(settings: Settings) -> list[str]:
    """Each default (or too-short secret) that is unsafe off the devnet, said with how to fix it."""
    problems: list[str] = []
    for field, value, default, noun in (
        ("operator_key", settings.operator_key, DEVNET_OPERATOR_KEY, "key"),
        ("webhook_secret", settings.webhook_secret, DEVNET_WEBHOOK_SECRET, "secret"),
    ):
        if value == default:
            problems.append(f"{env_var(field)} is the devnet default; set a random {noun} of at least 32 bytes")
        elif len(value) < SECRET_MIN_CHARS:
            problems.append(
                f"{env_var(field)} is shorter than 32 random bytes ({SECRET_MIN_CHARS} url-safe base64 "
                f"characters); set a random {noun} of at least 32 bytes"
            )
    if settings.custodial_devnet_keys:
        problems.append(
            f"{env_var('custodial_devnet_keys')} is true; set it to false "
            "(brokers then approve the escrow themselves or send permits)"
        )
    return problems


def require_safe_settings(settings: Settings, chain_id: int) -> None:
    """Raise UnsafeConfiguration, in one line naming each setting, when off the devnet with a default in force."""
    if is_devnet(settings, chain_id):
        return
    problems = devnet_defaults_in_force(settings)
    if problems:
        where = f"chain id {chain_id}, API host {settings.api_host}"
        raise UnsafeConfiguration(f"refusing to start off the devnet: {'; '.join(problems)} ({where})")
