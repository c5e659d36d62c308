"""SettlementNet over anvil, driven by the Python side: the window root and proofs we compute are
the ones the contract checks, and a window applies its net positions all or nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from settlement import errors
from settlement.chain.merkle import TradeLeaf, TradeProof, merkle_proof, merkle_root
from settlement.chain.net_settlement import NetSettlementContract
from settlement.chain.reverts import RevertDecoder
from settlement.chain.sender import Call, MemoryTxJournal, TxSender
from settlement.chain.trade_ids import chain_trade_id
from settlement.domain.netting import Obligation
from settlement.domain.window import net_positions
from settlement.manifest import Account as ManifestAccount
from settlement.testing.devnet import Devnet

pytestmark = pytest.mark.chain
COINS = 10**6


class NetDriver:
    """The agent, the admin and three brokers, each with its own sender, on a fresh snapshot."""

    def __init__(self, net: Devnet) -> None:
        manifest = net.manifest
        assert manifest.net is not None and manifest.ledger_anchor is not None
        self.chain = net.chain()
        self.contract = NetSettlementContract(self.chain)
        self.decoder = RevertDecoder(manifest.token.abi, manifest.escrow.abi, manifest.net.abi)
        self.journal = MemoryTxJournal()
        self.admin = self._sender(manifest.deployer)
        self.agent = self._sender(manifest.agent)
        self.brokers = [self._sender(b) for b in manifest.brokers[:3]]

    def _sender(self, who: ManifestAccount) -> TxSender:
        assert who.private_key is not None
        account: LocalAccount = Account.from_key(who.private_key)
        return TxSender(self.chain.w3, account, self.journal, self.decoder, poll_s=0.002)

    def fund(self, broker: TxSender, coins: int) -> None:
        """Admitted by the operator, then the broker approves the contract and deposits."""
        self.admin.transact(self.contract.admit(broker.address))
        approve = self.chain.token.encode_abi("approve", [self.contract.address, 2**256 - 1])
        broker.transact(Call(to=str(self.chain.token.address), data=str(approve), purpose="approve net"))
        broker.transact(self.contract.deposit(coins * COINS))


@pytest.fixture
def driver(isolated_devnet: Devnet) -> NetDriver:
    return NetDriver(isolated_devnet)


def _window(driver: NetDriver) -> tuple[list[TradeLeaf], dict[str, int]]:
    a, b, c = (s.address for s in driver.brokers)
    trades = [(a, b, 700), (b, c, 250), (c, a, 100), (a, c, 50), (b, a, 30)]
    leaves = [TradeLeaf(chain_trade_id(f"net-{i}"), p, q, n * COINS) for i, (p, q, n) in enumerate(trades)]
    positions = net_positions(Obligation(x.payer, x.payee, x.amount_base_units) for x in leaves)
    return leaves, positions


def test_a_window_settles_in_one_call_and_every_python_proof_verifies_on_chain(driver: NetDriver) -> None:
    for broker in driver.brokers:
        driver.fund(broker, 1_000)
    leaves, positions = _window(driver)
    root = merkle_root(leaves)
    before: dict[str, int] = {str(s.address): driver.contract.balance_of(s.address) for s in driver.brokers}
    total_before = driver.contract.total_balances()

    receipt = driver.agent.transact(driver.contract.settle_window(1, positions, root, len(leaves)))

    assert receipt["status"] == 1
    for address, position in positions.items():
        assert driver.contract.balance_of(address) == before[address] + position
    assert driver.contract.total_balances() == total_before
    window = driver.contract.window(1)
    assert window.settled and window.trades_root == root and window.trade_count == len(leaves)
    for leaf in leaves:
        assert driver.contract.verify_trade(1, leaf, merkle_proof(leaves, leaf))
    forged = TradeLeaf(leaves[0].chain_trade_id, leaves[0].payer, leaves[0].payee, leaves[0].amount_base_units + 1)
    assert not driver.contract.verify_trade(1, forged, merkle_proof(leaves, leaves[0]))


def test_settleWindow_revertsWhenAPayerIsShort_andChangesNothing(driver: NetDriver) -> None:
    for broker in driver.brokers:
        driver.fund(broker, 100)  # broker 0 owes 700 - 100 - 30 = 570 net: more than it holds
    leaves, positions = _window(driver)
    before: dict[str, int] = {str(s.address): driver.contract.balance_of(s.address) for s in driver.brokers}
    with pytest.raises(errors.SettlementError) as caught:
        driver.agent.transact(driver.contract.settle_window(2, positions, merkle_root(leaves), len(leaves)))
    assert "InsufficientSettlementBalance" in type(caught.value).__name__ + str(caught.value)
    assert {str(s.address): driver.contract.balance_of(s.address) for s in driver.brokers} == before
    assert not driver.contract.window(2).settled


def test_a_counterparty_checks_a_proof_with_only_the_rpc_and_the_contract_address(
    driver: NetDriver, isolated_devnet: Devnet, tmp_path: Path
) -> None:
    for broker in driver.brokers:
        driver.fund(broker, 1_000)
    leaves, positions = _window(driver)
    root = merkle_root(leaves)
    driver.agent.transact(driver.contract.settle_window(7, positions, root, len(leaves)))
    proof = TradeProof(7, leaves[2], tuple(merkle_proof(leaves, leaves[2])), root)
    good = tmp_path / "proof.json"
    good.write_text(json.dumps(proof.as_json()))
    forged_leaf = TradeLeaf(leaves[2].chain_trade_id, leaves[2].payer, leaves[2].payee, 1)
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(TradeProof(7, forged_leaf, proof.siblings, root).as_json()))

    def run(path: Path) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "settlement", "verify-proof", str(path), "--rpc-url", isolated_devnet.rpc_url]
        return subprocess.run(
            [*command, "--contract", driver.contract.address], capture_output=True, text=True, timeout=60
        )

    included = run(good)
    assert included.returncode == 0, included.stderr
    assert included.stdout.startswith("INCLUDED")
    refused = run(forged)
    assert refused.returncode == 1
    assert refused.stdout.startswith("NOT PROVEN") and "contract verifyTrade: False" in refused.stdout
