"""`make bench`: end-to-end settlement throughput against a naive baseline, on a fresh devnet.

Prints a table (machine noted). Everything runs in one process against one throwaway anvil:
1. the engine settles N gross trades: accepted -> locked -> released on chain -> mirrored in the ledger;
2. a naive baseline on the same devnet: per trade approve, lock, release, each waited for with
   web3's default receipt polling;
3. the indexer ingests >= 10,000 events into an empty ledger;
4. reconcile after all of it.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3

from settlement.chain.client import checksum
from settlement.chain.contract_calls import LockOrder
from settlement.chain.lock_intents import sign_lock_intent
from settlement.chain.trade_ids import chain_trade_id
from settlement.config import Settings
from settlement.domain.access import Actor
from settlement.domain.requests import TradeRequest
from settlement.service import SettlementService
from settlement.testing.devnet import Devnet
from settlement.text_table import render_table

BROKERS = 6
CURRENCIES = ("HKD", "CNH", "USD", "SGD")
TRANSFER_GAS = 80_000
MINE_BATCH_TXS = 500
# The events the indexer turns into journal entries (approvals are not money movements).
INDEXED_EVENTS = (
    "Transfer(address,address,uint256)",
    "Locked(bytes32,address,address,uint256,uint64)",
    "Released(bytes32,address,uint256)",
    "Refunded(bytes32,address,uint256,address)",
)


@dataclass
class Row:
    metric: str
    value: str
    note: str = ""


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()} | {os.cpu_count()} cores | {cpu} | Python {platform.python_version()}"


def engine_run(service: SettlementService, trades: int) -> tuple[float, int, int]:
    """Accept, lock, confirm, release and mirror `trades` trades; returns (seconds, txs, gas)."""
    brokers = [service.participants.register(f"Bench broker {i}", "HK")[0] for i in range(BROKERS)]
    rng = random.Random(7)
    started = time.perf_counter()
    accepted = []
    for i in range(trades):
        buyer, seller = rng.sample(brokers, 2)
        request = TradeRequest(
            trade_ref=f"bench-{i}",
            buyer_id=buyer.id,
            seller_id=seller.id,
            instrument="0700.HK",
            quantity=Decimal(rng.randint(1, 50)),
            price=Decimal("12.34"),
            currency=CURRENCIES[i % len(CURRENCIES)],
        )
        # As a matching utility would: trades arrive matched (consent is measured by the tests).
        accepted.append(service.submit_trade(Actor.operator(), request, None)[0])
    report = service.settle_until_idle()
    for trade in accepted:
        service.confirm_delivery(Actor.operator(), trade.id)
    report.add(service.settle_until_idle())
    seconds = time.perf_counter() - started
    assert report.locked == trades and report.released == trades, report
    return seconds, report.transactions, report.gas_used


def naive_run(devnet: Devnet, trades: int) -> tuple[float, int]:
    """Per trade: approve, lock, release; each sent with web3 defaults and waited for (0.1 s poll)."""
    w3 = Web3(Web3.HTTPProvider(devnet.rpc_url))
    chain = devnet.chain()
    manifest = devnet.manifest
    payer: LocalAccount = Account.from_key(manifest.brokers[-1].private_key)
    payee = manifest.brokers[-2].address
    agent: LocalAccount = Account.from_key(manifest.agent.private_key)
    gas = 0
    started = time.perf_counter()
    for i in range(trades):
        trade_key = chain_trade_id(f"naive-{i}-{time.time_ns()}")
        deadline = chain.latest_timestamp() + 3600
        order = LockOrder(trade_key, payer.address, checksum(payee), 1_000_000, deadline)
        signature = sign_lock_intent(chain, payer, order)
        steps = [
            (payer, chain.token.functions.approve(chain.escrow.address, 1_000_000)),
            (agent, chain.escrow.functions.lock(order.as_tuple(), signature)),
            (agent, chain.escrow.functions.release(trade_key)),
        ]
        for account, function in steps:
            tx = function.build_transaction(
                {"from": account.address, "nonce": w3.eth.get_transaction_count(account.address)}
            )
            signed = account.sign_transaction(dict(tx))  # type: ignore[arg-type]
            tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
            gas += int(w3.eth.wait_for_transaction_receipt(tx_hash)["gasUsed"])
    return time.perf_counter() - started, gas


def flood_transfers(devnet: Devnet, count: int) -> None:
    """Add `count` token transfers quickly: automine off, one JSON-RPC batch per block's worth, mine."""

    chain = devnet.chain()
    senders: list[LocalAccount] = [Account.from_key(b.private_key) for b in devnet.manifest.brokers[:4]]
    nonces: dict[str, int] = {s.address: int(devnet.w3.eth.get_transaction_count(s.address)) for s in senders}
    base_fee = int(devnet.w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
    devnet.rpc("evm_setAutomine", False)
    try:
        with httpx.Client(timeout=60) as client:
            for start in range(0, count, MINE_BATCH_TXS):
                batch = []
                for i in range(start, min(count, start + MINE_BATCH_TXS)):
                    sender = senders[i % len(senders)]
                    receiver = senders[(i + 1) % len(senders)].address
                    tx: dict[str, Any] = {
                        "chainId": devnet.manifest.chain_id,
                        "nonce": nonces[sender.address],
                        "to": chain.token.address,
                        "data": HexBytes(chain.token.encode_abi("transfer", [receiver, 1])),
                        "value": 0,
                        "gas": TRANSFER_GAS,
                        "maxFeePerGas": 4 * base_fee + 10**9,
                        "maxPriorityFeePerGas": 10**9,
                        "type": 2,
                    }
                    nonces[sender.address] += 1
                    raw = sender.sign_transaction(tx).raw_transaction.to_0x_hex()
                    batch.append({"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": [raw]})
                client.post(devnet.rpc_url, json=batch).raise_for_status()
                devnet.rpc("evm_mine")
    finally:
        devnet.rpc("evm_setAutomine", True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=1_000)
    parser.add_argument("--naive-trades", type=int, default=100, help="baseline sample (rate extrapolates)")
    parser.add_argument("--events", type=int, default=10_000)
    args = parser.parse_args(argv)

    rows: list[Row] = []
    devnet = Devnet.start()
    workdir = Path(tempfile.mkdtemp(prefix="settlement-bench-"))
    try:
        settings = Settings(
            rpc_url=devnet.rpc_url,
            database_url=f"sqlite:///{workdir / 'bench.db'}",
            data_dir=workdir,
            deployments_dir=workdir,
        )
        service = SettlementService(settings, manifest=devnet.manifest)
        seconds, txs, gas = engine_run(service, args.trades)
        engine_rate = args.trades / seconds
        rows += [
            Row(
                "engine: gross trades settled end to end", f"{args.trades}", "accepted -> locked -> released -> ledger"
            ),
            Row("engine: wall time", f"{seconds:.1f} s"),
            Row("engine: trades/s", f"{engine_rate:.1f}"),
            Row("engine: on-chain txs per trade", f"{txs / args.trades:.3f}", f"{txs} txs incl. approvals"),
            Row("engine: gas per trade", f"{gas // args.trades:,}"),
        ]
        service.close()

        naive_seconds, naive_gas = naive_run(devnet, args.naive_trades)
        naive_rate = args.naive_trades / naive_seconds
        rows += [
            Row(
                "naive: trades/s", f"{naive_rate:.2f}", f"{args.naive_trades} trades, approve+lock+release each awaited"
            ),
            Row("naive: on-chain txs per trade", "3.000"),
            Row("naive: gas per trade", f"{naive_gas // args.naive_trades:,}"),
            Row("speed-up engine / naive", f"{engine_rate / naive_rate:.1f}x", "target >= 10x"),
        ]

        existing_logs = len(
            devnet.w3.eth.get_logs(
                {
                    "fromBlock": devnet.manifest.deploy_block,
                    "toBlock": "latest",
                    "address": [checksum(devnet.manifest.token.address), checksum(devnet.manifest.escrow.address)],
                    "topics": [["0x" + keccak(text=signature).hex() for signature in INDEXED_EVENTS]],
                }
            )
        )
        if existing_logs < args.events:
            flood_transfers(devnet, args.events - existing_logs)
        replay = SettlementService(
            settings.model_copy(update={"database_url": f"sqlite:///{workdir / 'replay.db'}"}), manifest=devnet.manifest
        )
        started = time.perf_counter()
        result = replay.index()
        index_seconds = time.perf_counter() - started
        rows += [
            Row("indexer: events ingested into an empty ledger", f"{result.events_applied:,}"),
            Row("indexer: events/s", f"{result.events_applied / index_seconds:,.0f}", f"{index_seconds:.1f} s"),
        ]
        replay.close()

        service = SettlementService(settings, manifest=devnet.manifest)
        started = time.perf_counter()
        report = service.reconcile(Actor.operator())
        rows.append(
            Row(
                "reconcile after the run",
                f"{time.perf_counter() - started:.2f} s",
                "balanced" if report.balanced else f"{len(report.breaks)} breaks",
            )
        )
        service.close()
    finally:
        devnet.stop()

    print(f"\nmachine: {machine()}")
    print(
        f"chain: anvil (fresh, automine) | database: SQLite file | batch {settings.batch_trades_max} trades, window {settings.in_flight_txs_max} txs\n"
    )
    print(render_table(["metric", "value", "note"], [[r.metric, r.value, r.note] for r in rows], markdown=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
