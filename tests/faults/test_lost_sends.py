"""Faults on the way out: a transaction send lost before or after the node, and issuance over HTTP.

The review's cases: /issue answered 503 although the coins were minted (the answer was lost after
forwarding), so a retrying client minted twice; and an /issue answered with a tx hash whose
transaction never reached the chain was never mined and never retried (coins acknowledged and
never minted). A signed, journaled transaction is the answer; the sender makes the chain hold it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from eth_account import Account
from hexbytes import HexBytes

from settlement import errors
from settlement.chain.client import connect
from settlement.chain.reverts import RevertDecoder
from settlement.chain.sender import Call, MemoryTxJournal, TxSender
from settlement.testing.app import SettlementApp, running_app
from settlement.testing.devnet import Devnet
from tests.api.support import Broker, register, unique
from tests.faults.flaky_rpc import FlakyRpc

pytestmark = pytest.mark.chain

COIN = 10**6
MINT_COINS = 4_755  # the review's acknowledged-and-never-minted amount
SEND = "eth_sendRawTransaction"


@pytest.fixture
def proxy(isolated_devnet: Devnet) -> Iterator[FlakyRpc]:
    with FlakyRpc(isolated_devnet.rpc_url) as flaky:
        yield flaky


@pytest.fixture
def flaky_app(isolated_devnet: Devnet, proxy: FlakyRpc, db_url: str, tmp_path: Path) -> Iterator[SettlementApp]:
    """The API and its worker, talking to anvil through the proxy. Stopped before the chain is reverted."""
    with running_app(isolated_devnet.manifest, proxy.url, tmp_path, database_url=db_url, receipt_timeout_s=1.5) as app:
        yield app


def on_chain_base_units(devnet: Devnet, broker: Broker) -> int:
    return devnet.chain().balance_of(broker.address)  # straight from anvil, not through the proxy


def mint(app: SettlementApp, broker: Broker, key: str) -> httpx.Response:
    path = f"/v1/participants/{broker.id}/issue"
    return app.client().post(path, json={"amount": str(MINT_COINS)}, headers={"Idempotency-Key": key})


def wait_for_balance(devnet: Devnet, broker: Broker, expected: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while on_chain_base_units(devnet, broker) != expected:
        assert time.monotonic() < deadline, f"balance {on_chain_base_units(devnet, broker)}, expected {expected}"
        time.sleep(0.05)


# ---------------------------------------------------------------------- the sender alone


def test_a_send_lost_before_the_node_is_sent_again_by_the_wait(isolated_devnet: Devnet, proxy: FlakyRpc) -> None:
    manifest = isolated_devnet.manifest
    account = Account.from_key(manifest.brokers[0].private_key)
    journal = MemoryTxJournal()
    sender = TxSender(
        connect(proxy.url), account, journal, RevertDecoder(manifest.token.abi, manifest.escrow.abi), timeout_s=5.0
    )
    token = isolated_devnet.chain().token
    record = sender.sign(Call(manifest.token.address, token.encode_abi("approve", [account.address, 99]), "approve"))

    proxy.drop_next(SEND)
    with pytest.raises(errors.ChainUnavailable):
        sender.send(record)  # lost on the way: the node never saw it
    assert proxy.dropped == 1
    with pytest.raises(Exception, match="not found"):
        isolated_devnet.w3.eth.get_transaction(HexBytes(record.tx_hash))

    receipt = sender.wait(record)  # found missing, sent again (same bytes), mined

    assert receipt["transactionHash"].to_0x_hex() == record.tx_hash
    assert journal.records[record.tx_hash].status == "mined"
    assert isolated_devnet.chain().token.functions.allowance(account.address, account.address).call() == 99


# ---------------------------------------------------------------------- issuance over HTTP


def test_an_issue_whose_send_answer_is_lost_answers_its_hash_and_mints_once(
    flaky_app: SettlementApp, proxy: FlakyRpc, isolated_devnet: Devnet
) -> None:
    broker = register(flaky_app, "lost-answer-mint")
    before = on_chain_base_units(isolated_devnet, broker)
    key = unique("mint")

    proxy.drop_after_forwarding = {SEND}  # the node takes the mint, the service never hears back
    first = mint(flaky_app, broker, key)
    assert first.status_code == 200, first.text  # not 503: a retry would mint again
    assert proxy.dropped >= 1
    proxy.heal()
    again = mint(flaky_app, broker, key)

    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true", again.text
    assert again.json()["tx_hash"] == first.json()["tx_hash"]
    receipt = isolated_devnet.w3.eth.get_transaction_receipt(HexBytes(first.json()["tx_hash"]))
    assert receipt["status"] == 1
    flaky_app.service.settle_until_idle()  # cycles re-send nothing: the mint is on chain
    assert on_chain_base_units(isolated_devnet, broker) == before + MINT_COINS * COIN  # once


def test_an_issue_whose_send_never_reaches_the_chain_is_minted_by_the_sender(
    flaky_app: SettlementApp, proxy: FlakyRpc, isolated_devnet: Devnet
) -> None:
    broker = register(flaky_app, "never-sent-mint")
    before = on_chain_base_units(isolated_devnet, broker)
    key = unique("mint")

    proxy.drop_methods = {SEND}  # every send is lost before the node, for as long as the request runs
    first = mint(flaky_app, broker, key)
    assert first.status_code == 200, first.text
    tx_hash = first.json()["tx_hash"]
    assert on_chain_base_units(isolated_devnet, broker) == before  # acknowledged, not minted yet

    proxy.heal()  # the worker's next cycle finds the journaled mint missing and sends it again
    wait_for_balance(isolated_devnet, broker, before + MINT_COINS * COIN)
    assert isolated_devnet.w3.eth.get_transaction_receipt(HexBytes(tx_hash))["status"] == 1  # that very tx
    again = mint(flaky_app, broker, key)
    assert again.status_code == 200 and again.json()["tx_hash"] == tx_hash
    flaky_app.service.settle_until_idle()
    assert on_chain_base_units(isolated_devnet, broker) == before + MINT_COINS * COIN


def test_an_issue_whose_first_send_is_lost_is_mined_before_the_answer(
    flaky_app: SettlementApp, proxy: FlakyRpc, isolated_devnet: Devnet
) -> None:
    broker = register(flaky_app, "once-lost-mint")
    before = on_chain_base_units(isolated_devnet, broker)

    proxy.drop_next(SEND)
    response = mint(flaky_app, broker, unique("mint"))

    assert response.status_code == 200, response.text
    assert proxy.dropped == 1
    assert on_chain_base_units(isolated_devnet, broker) == before + MINT_COINS * COIN


def test_transport_failures_anywhere_in_the_sender_are_chain_unavailable(
    isolated_devnet: Devnet, proxy: FlakyRpc
) -> None:
    """No requests.ConnectionError escapes: fee reads, estimates and the replay of a mined revert
    all fail as ChainUnavailable, the domain error every caller handles."""
    manifest = isolated_devnet.manifest
    account = Account.from_key(manifest.agent.private_key)
    journal = MemoryTxJournal()
    sender = TxSender(
        connect(proxy.url), account, journal, RevertDecoder(manifest.token.abi, manifest.escrow.abi), timeout_s=5.0
    )
    escrow = isolated_devnet.chain().escrow
    never_locked = Call(manifest.escrow.address, escrow.encode_abi("release", [b"\x01" * 32]), "release", 300_000)

    proxy.drop_methods = {"eth_estimateGas", "eth_maxPriorityFeePerGas", "eth_getBlockByNumber"}
    with pytest.raises(errors.ChainUnavailable):
        sender.estimate(Call(manifest.escrow.address, never_locked.data, "release"))
    (outcome,) = sender.submit_many([never_locked])  # the fee read fails: an outcome, not a traceback
    assert isinstance(outcome.error, errors.ChainUnavailable) and outcome.record is None
    proxy.heal()

    record = sender.sign(never_locked)
    sender.send(record)
    proxy.drop_methods = {"eth_getTransactionByHash", "eth_call"}  # the revert's replay is lost
    with pytest.raises(errors.ChainUnavailable):
        sender.wait(record)
    assert journal.records[record.tx_hash].status == "reverted"  # what is known is kept
    proxy.heal()
    with pytest.raises(errors.NotLocked):  # and with the chain back, the reason is decoded
        sender.wait(record)
