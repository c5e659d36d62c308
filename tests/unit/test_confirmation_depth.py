"""The confirmation depth in force: 0 only on the instant-mining devnet unless set explicitly."""

from __future__ import annotations

import pytest

from settlement.config import CONFIRMATION_DEPTH_OFF_DEVNET, DEVNET_CHAIN_ID, Settings


def test_unset_depth_is_zero_on_the_devnet_and_safe_elsewhere() -> None:
    settings = Settings()
    assert settings.confirmation_depth is None
    assert settings.confirmation_depth_on(DEVNET_CHAIN_ID) == 0
    assert CONFIRMATION_DEPTH_OFF_DEVNET > 0
    for chain_id in (1, 10, 137, 8453, 11155111):
        assert settings.confirmation_depth_on(chain_id) == CONFIRMATION_DEPTH_OFF_DEVNET


@pytest.mark.parametrize("depth", [0, 3, 64])
def test_an_explicit_depth_wins_everywhere(depth: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SETTLEMENT_CONFIRMATION_DEPTH", str(depth))
    settings = Settings()
    assert settings.confirmation_depth_on(DEVNET_CHAIN_ID) == depth
    assert settings.confirmation_depth_on(1) == depth


def test_a_negative_depth_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SETTLEMENT_CONFIRMATION_DEPTH", "-1")
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        Settings()
