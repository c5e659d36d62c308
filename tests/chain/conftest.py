"""Fixtures for the chain tests: the session anvil, reverted after each test, seen through Env."""

from __future__ import annotations

import pytest

from settlement.testing.devnet import Devnet
from tests.chain.support import Env


@pytest.fixture
def env(isolated_devnet: Devnet) -> Env:
    """Parties and senders built after the snapshot, so their nonces match the chain."""
    return Env.build(isolated_devnet)
