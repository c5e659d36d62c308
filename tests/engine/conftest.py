"""An engine (SettlementService) on the session devnet, a fresh database per test, chain reverted after."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from settlement.config import Settings
from settlement.domain.access import Actor
from settlement.ledger.models import Participant
from settlement.service import SettlementService
from settlement.testing.devnet import Devnet


def make_settings(devnet: Devnet, db_url: str, tmp_path: Path, **overrides: object) -> Settings:
    deployments = tmp_path / "deployments"
    devnet.manifest.save(deployments / f"{devnet.manifest.chain_id}.json")
    fields: dict[str, object] = {
        "rpc_url": devnet.rpc_url,
        "chain_id": devnet.manifest.chain_id,
        "deployments_dir": deployments,
        "database_url": db_url,
        "data_dir": tmp_path / "data",
        **overrides,
    }
    return Settings(**fields)  # type: ignore[arg-type]


@pytest.fixture
def settings(isolated_devnet: Devnet, db_url: str, tmp_path: Path) -> Settings:
    return make_settings(isolated_devnet, db_url, tmp_path)


@pytest.fixture
def service(settings: Settings, isolated_devnet: Devnet) -> Iterator[SettlementService]:
    svc = SettlementService(settings, manifest=isolated_devnet.manifest)
    yield svc
    svc.close()


@dataclass
class Brokers:
    hk: Participant
    cn: Participant
    sg: Participant


@pytest.fixture
def brokers(service: SettlementService) -> Brokers:
    """Three custodial devnet brokers, each funded with 1,000,000 coins at deploy."""
    hk, _ = service.participants.register("Harbour Securities", "HK")
    cn, _ = service.participants.register("Mainland Capital (HK) Ltd", "HK")
    sg, _ = service.participants.register("Lion City Brokers", "SG")
    return Brokers(hk, cn, sg)


@pytest.fixture
def outside_broker(
    service: SettlementService, isolated_devnet: Devnet
) -> Callable[[int], tuple[Participant, LocalAccount]]:
    """A non-custodial broker: the service does not hold its key; it is funded with `coins`."""

    def make(coins: int) -> tuple[Participant, LocalAccount]:
        account: LocalAccount = Account.create()
        participant, _ = service.participants.register(f"Outside {account.address[:8]}", "SG", account.address)
        if coins:
            service.participants.issue(participant.id, coins * 10**6)
        isolated_devnet.rpc("anvil_setBalance", account.address, hex(10**18))
        return participant, account

    return make


OPERATOR = Actor.operator()
"""Engine tests submit as the operator (a matched trade at once): consent is tested in tests/api."""
