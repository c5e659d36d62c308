"""`make bench`: settlement throughput over real HTTP, each figure against a naive baseline and the chain's limit.

The service runs as deployed, in processes of its own (`python -m settlement.api serve`) on one
SQLite file: a worker server that settles, and API-only servers (SETTLEMENT_WORKER_ENABLED=false)
that take the trades; the bench's HTTP clients share no interpreter with them.

Every scenario runs on a fresh anvil of its own (anvil slows as its chain grows):

1. net: N matched trades among B brokers, submitted by the operator in batches
   (POST /v1/trades/batch, `delivery_confirmed: true`) over loopback HTTP, with a few
   concurrent clients spread over the API servers. Brokers pre-fund
   their settlement balances first. Once the last batch is in, the operator closes the open
   window (POST /v1/windows/{id}/close, a settlement day's cut-off): otherwise the run's last
   trades wait for that window's timer, up to its whole length, and the figure depends on where
   the timer happened to stand (`--no-cutoff` measures that). Timed from the first submission to
   the last window seen SETTLED on chain and mirrored in the ledger (the indexer head at or past
   its settlement block). A trade's latency: its batch's submission -> its window seen SETTLED.
2. gross: the same trades in gross mode: submitted -> locked -> RELEASED -> mirrored.
3. naive: per trade approve, lock, release, each sent with web3 and awaited (5 ms receipt poll).
4. chain limit: pre-signed token transfers sent raw to anvil in JSON-RPC batches, mined
   explicitly: the most transfers/s this chain takes, whatever the software above it.

Prints a table and writes bench-results.json. `--scale 1000,10000,100000` (or `--net-trades N`)
runs only the net scenario at each size and reports trades/s and reconcile time per size.
`--gross-rounds N` runs N gross rounds on one chain; `--storage-probe` measures how anvil's rate
of plain transfers depends on the contract storage it holds, set or set and cleared again.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import queue
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3

from settlement.chain.client import checksum
from settlement.chain.contract_calls import LockOrder
from settlement.chain.lock_intents import sign_lock_intent
from settlement.chain.trade_ids import chain_trade_id
from settlement.config import Settings
from settlement.devnet.anvil import free_port
from settlement.testing.app import HARNESS_AUTH_FAILURES_MAX
from settlement.testing.devnet import Devnet
from settlement.text_table import render_table

RESULTS_FILE = "bench-results.json"
CURRENCIES = ("HKD", "CNH", "USD", "SGD")
PRICE = Decimal("12.34")
QUANTITY_MAX = 50
TRANSFER_GAS = 80_000
MINE_BATCH_TXS = 500  # transfers per mined block (30M gas / ~41k used each leaves room)
RPC_BATCH_TXS = 100  # raw transactions per JSON-RPC batch
RECEIPT_POLL_S = 0.005  # the naive baseline's receipt poll (web3's default 0.1 s would flatter us 4-10x)
STATUS_POLL_S = 0.05  # how often the bench looks at windows / trades while it waits
WAIT_TIMEOUT_S = 900.0
GROSS_OPEN = ("UNMATCHED", "PENDING", "LOCKED")
# Each payer is funded 5% over what it pays, in both modes: in gross mode its last trades are
# then accepted on intake's exact re-check (locks mined but not yet recorded), which this
# exercises under load; a refused trade fails the run.
FUNDING_MARGIN = Decimal("1.05")

TARGETS = {
    "net_trades": 10_000,
    "net_brokers": 10,
    "net_trades_per_s_min": 2_000,
    "net_p99_settle_latency_s_max": "window length + 1 s",
    "net_settlement_txs_per_window": 1,
    "gross_trades_per_s_min": 500,
}


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


class BenchFailed(Exception):
    """A scenario did not settle as it should; the message says how."""


# ---------------------------------------------------------------------------------- HTTP helpers


def expect(response: httpx.Response, status: int = 200) -> Any:
    if response.status_code != status:
        raise BenchFailed(
            f"{response.request.method} {response.request.url.path} -> {response.status_code}: {response.text[:500]}"
        )
    return response.json()


def idempotency() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def wait_until(what: str, check: Callable[[], bool], timeout_s: float = WAIT_TIMEOUT_S) -> float:
    """Poll `check` until true; returns the perf_counter time it was first seen true."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise BenchFailed(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(STATUS_POLL_S)
    return time.perf_counter()


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


# ---------------------------------------------------------------------------------- stack


# The deployment measured: one worker server and API_SERVERS API-only servers on one SQLite file
# (two processes take trades on a 2-core machine while a third settles), and net windows that
# close after NET_WINDOW_S or at NET_WINDOW_TRADES_MAX trades: settling a window while the next
# fills keeps each settlement short, so the p99 latency stays within the window length + 1 s.
API_SERVERS = 2
NET_WINDOW_S = 2.0
NET_WINDOW_TRADES_MAX = 2_000
SERVER_START_TIMEOUT_S = 60.0
SERVER_STOP_TIMEOUT_S = 15.0
WORKER_TICK_S = 0.1  # the worker server's cycle tick: it is woken by no API process but its own


@dataclass
class ServedApi:
    """The service as an operator deploys it: `python -m settlement.api serve` processes on one
    ledger, reached only over loopback HTTP, so the bench's own clients share no interpreter
    (and no GIL) with the service they measure."""

    base_urls: list[str]  # the API servers, each taking its share of the submissions
    operator_key: str
    window_length_s: float
    _clients: list[httpx.Client] = field(default_factory=list, repr=False)

    def client(self, timeout: float = 30.0, server: int = 0) -> httpx.Client:
        client = httpx.Client(
            base_url=self.base_urls[server % len(self.base_urls)],
            headers={"Authorization": f"Bearer {self.operator_key}"},
            timeout=timeout,
        )
        self._clients.append(client)
        return client

    def close_clients(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()


@dataclass
class Stack:
    devnet: Devnet
    app: ServedApi
    http: httpx.Client  # the operator's


@contextlib.contextmanager
def serve(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """One server process with these settings; its base URL once /v1/health answers."""
    host, port = "127.0.0.1", free_port()
    env = {**os.environ, **env, "SETTLEMENT_API_HOST": host, "SETTLEMENT_API_PORT": str(port)}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "settlement.api", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    base_url = f"http://{host}:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise BenchFailed(f"the server exited ({process.returncode}): {log_path.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base_url}/v1/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise BenchFailed(f"the server did not answer within {SERVER_START_TIMEOUT_S:.0f} s")
            time.sleep(STATUS_POLL_S)
        yield base_url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(SERVER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def fresh_stack(
    workdir: Path,
    name: str,
    window_s: float | None = None,
    window_trades_max: int | None = None,
    api_servers: int = API_SERVERS,
) -> Iterator[Stack]:
    """A fresh anvil with the contracts, and a fresh ledger served by two processes, as the README's
    scaling note deploys it: a worker server (it runs the settlement cycles) and an API-only
    server (SETTLEMENT_WORKER_ENABLED=false) that takes the trades; they share the SQLite file.
    Intake and settlement then run on separate cores. `window_s`: the net window's length (None:
    the service's default)."""
    root = workdir / name
    deployments = root / "deployments"
    devnet = Devnet.start()
    try:
        devnet.manifest.save(deployments / f"{devnet.manifest.chain_id}.json")
        operator_key = "op_" + secrets.token_urlsafe(24)
        env = {
            "SETTLEMENT_RPC_URL": devnet.rpc_url,
            "SETTLEMENT_CHAIN_ID": str(devnet.manifest.chain_id),
            "SETTLEMENT_DEPLOYMENTS_DIR": str(deployments),
            "SETTLEMENT_DATA_DIR": str(root),
            "SETTLEMENT_DATABASE_URL": f"sqlite:///{root / 'settlement.db'}",
            "SETTLEMENT_OPERATOR_KEY": operator_key,
            "SETTLEMENT_SWEEP_INTERVAL_S": str(WORKER_TICK_S),
            "SETTLEMENT_AUTH_FAILURES_MAX": str(HARNESS_AUTH_FAILURES_MAX),
        }
        if window_s is not None:
            env["SETTLEMENT_WINDOW_LENGTH_S"] = str(window_s)
        if window_trades_max is not None:
            env["SETTLEMENT_WINDOW_TRADES_MAX"] = str(window_trades_max)
        with contextlib.ExitStack() as servers:
            servers.enter_context(serve({**env, "SETTLEMENT_WORKER_ENABLED": "true"}, root / "worker.log"))
            api_urls = [
                servers.enter_context(serve({**env, "SETTLEMENT_WORKER_ENABLED": "false"}, root / f"api-{i}.log"))
                for i in range(api_servers)
            ]
            window_length_s = window_s if window_s is not None else Settings.model_fields["window_length_s"].default
            app = ServedApi(api_urls, operator_key, float(window_length_s))
            try:
                yield Stack(devnet, app, app.client())
            finally:
                app.close_clients()
    finally:
        devnet.stop()


# ---------------------------------------------------------------------------------- trades


@dataclass(frozen=True)
class Broker:
    id: str
    address: str


@dataclass(frozen=True)
class PlannedTrade:
    ref: str
    buyer: int  # index into the brokers; the buyer pays
    seller: int
    quantity: int
    currency: str


def plan_trades(count: int, brokers: int, tag: str, seed: int = 7) -> list[PlannedTrade]:
    rng = random.Random(seed)
    trades = []
    for i in range(count):
        buyer, seller = rng.sample(range(brokers), 2)
        trades.append(
            PlannedTrade(f"bench-{tag}-{i:06d}", buyer, seller, rng.randint(1, QUANTITY_MAX), CURRENCIES[i % 4])
        )
    return trades


def trade_body(trade: PlannedTrade, brokers: Sequence[Broker], mode: str) -> dict[str, Any]:
    return {
        "trade_ref": trade.ref,
        "buyer_id": brokers[trade.buyer].id,
        "seller_id": brokers[trade.seller].id,
        "instrument": "0700.HK",
        "quantity": str(trade.quantity),
        "price": str(PRICE),
        "currency": trade.currency,
        "settlement_mode": mode,
        "delivery_confirmed": True,
    }


def register_brokers(http: httpx.Client, count: int) -> list[Broker]:
    brokers = []
    for i in range(count):
        created = expect(http.post("/v1/participants", json={"name": f"Bench broker {i}", "jurisdiction": "HK"}), 201)
        brokers.append(Broker(created["id"], created["address"]))
    return brokers


def list_brokers(http: httpx.Client, count: int) -> list[Broker]:
    """The brokers register_brokers made, in its order."""
    by_name = {p["name"]: Broker(p["id"], p["address"]) for p in expect(http.get("/v1/participants"))}
    return [by_name[f"Bench broker {i}"] for i in range(count)]


def payments_due(
    http: httpx.Client, trades: Sequence[PlannedTrade], brokers: int, margin: Decimal = FUNDING_MARGIN
) -> list[Decimal]:
    """What each broker pays as buyer, in coins, with a margin: enough that nothing is refused."""
    rates = {r["currency"]: Decimal(r["rate_to_usd"]) for r in expect(http.get("/v1/fx-rates"))}
    due = [Decimal(0)] * brokers
    for trade in trades:
        due[trade.buyer] += trade.quantity * PRICE * rates[trade.currency]
    return [(d * margin + 10).quantize(Decimal(1), rounding=ROUND_CEILING) for d in due]


def fund_brokers(http: httpx.Client, brokers: Sequence[Broker], due: Sequence[Decimal], *, deposit: bool) -> None:
    """Issue each broker what it will pay (the spare devnet accounts start with no coins) and, for
    net mode, move it into its settlement balance."""
    for broker, amount in zip(brokers, due, strict=True):
        path = f"/v1/participants/{broker.id}"
        expect(http.post(f"{path}/issue", json={"amount": str(amount)}, headers=idempotency()))
        if deposit:
            expect(http.post(f"{path}/settlement-balance/deposit", json={"amount": str(amount)}, headers=idempotency()))


@dataclass
class Submission:
    sent_at: list[float]  # per trade: when its batch was sent (perf_counter)
    results: list[dict[str, Any]]  # per trade: the batch item result
    started: float
    finished: float


def submit_all(app: ServedApi, bodies: Sequence[dict[str, Any]], batch_trades: int, clients: int) -> Submission:
    """POST the trades in batches from `clients` concurrent HTTP clients (one thread each)."""
    sent_at = [0.0] * len(bodies)
    results: list[dict[str, Any]] = [{} for _ in bodies]
    pool: queue.Queue[httpx.Client] = queue.Queue()
    for i in range(clients):
        pool.put(app.client(timeout=300, server=i))

    def send(start: int) -> None:
        chunk = bodies[start : start + batch_trades]
        http = pool.get()
        try:
            t0 = time.perf_counter()
            for i in range(start, start + len(chunk)):
                sent_at[i] = t0
            answer = expect(http.post("/v1/trades/batch", json={"trades": list(chunk)}, headers=idempotency()))
            for offset, item in enumerate(answer["results"]):
                results[start + offset] = item
        finally:
            pool.put(http)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients, thread_name_prefix="bench-client") as executor:
        for future in [executor.submit(send, s) for s in range(0, len(bodies), batch_trades)]:
            future.result()
    finished = time.perf_counter()
    refused = [r for r in results if not r.get("ok")]
    if refused:
        raise BenchFailed(f"{len(refused)} of {len(bodies)} trades refused, first: {refused[0].get('problem')}")
    return Submission(sent_at, results, started, finished)


def any_trades(http: httpx.Client, statuses: Sequence[str]) -> bool:
    return any(expect(http.get("/v1/trades", params={"status": s, "limit": 1}))["items"] for s in statuses)


def indexer_head(http: httpx.Client) -> tuple[int, int]:
    """(latest block, indexer head); 200 or 503 (degraded) both carry the body."""
    health = http.get("/v1/health").json()
    return int(health["latest_block"] or 0), int(health["indexer_head"] or -1)


def trade_counts(http: httpx.Client) -> dict[str, int]:
    return {k: int(v) for k, v in expect(http.get("/v1/overview"))["trade_counts"].items()}


def reconcile(http: httpx.Client) -> tuple[float, bool, int]:
    """GET /v1/reconciliation (it indexes to the head first): seconds, balanced, breaks."""
    started = time.perf_counter()
    report = expect(http.get("/v1/reconciliation", timeout=600))
    return time.perf_counter() - started, bool(report["balanced"]), len(report["breaks"])


@dataclass
class ChainUsage:
    txs: int = 0
    gas: int = 0
    failed: int = 0
    by_target: dict[str, int] = field(default_factory=dict)


def chain_usage(rpc_url: str, first_block: int, last_block: int) -> ChainUsage:
    """Every transaction mined in [first_block, last_block]: count, gas, reverts, per target address."""
    usage = ChainUsage()
    with httpx.Client(timeout=120) as client:
        for start in range(first_block, last_block + 1, 100):
            blocks = range(start, min(last_block, start + 99) + 1)
            batch = [{"jsonrpc": "2.0", "id": b, "method": "eth_getBlockReceipts", "params": [hex(b)]} for b in blocks]
            for answer in client.post(rpc_url, json=batch).raise_for_status().json():
                for receipt in answer.get("result") or []:
                    usage.txs += 1
                    usage.gas += int(receipt["gasUsed"], 16)
                    usage.failed += int(receipt["status"], 16) == 0
                    target = str(receipt.get("to") or "create").lower()
                    usage.by_target[target] = usage.by_target.get(target, 0) + 1
    return usage


# ---------------------------------------------------------------------------------- net


class WindowWatcher:
    """Polls GET /v1/windows and /v1/health: when each window was first seen SETTLED, and when the
    ledger had mirrored it (the indexer head at or past its settlement block)."""

    def __init__(self, app: ServedApi) -> None:
        self.http = app.client()
        self.settled_at: dict[int, float] = {}
        self.mirrored_at: dict[int, float] = {}
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-windows", daemon=True)

    def __enter__(self) -> WindowWatcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            while not self._stop.wait(STATUS_POLL_S):
                self.poll()
        except BaseException as exc:  # surfaced by wait()
            self.error = exc

    def poll(self) -> None:
        items = expect(self.http.get("/v1/windows", params={"status": "SETTLED", "limit": 200}))["items"]
        seen = time.perf_counter()
        for window in items:
            self.settled_at.setdefault(int(window["id"]), seen)
        unmirrored = [w for w in items if int(w["id"]) not in self.mirrored_at]
        if not unmirrored:  # the health check only when a settled window waits for the ledger
            return
        _, head = indexer_head(self.http)
        mirrored = time.perf_counter()
        for window in unmirrored:
            if head >= int(window["settlement_block"]):
                self.mirrored_at[int(window["id"])] = mirrored

    def wait(self, window_ids: set[int]) -> float:
        """Until every window in `window_ids` is settled and mirrored; returns the last mirror time."""

        def done() -> bool:
            if self.error is not None:
                raise BenchFailed(f"watching windows failed: {self.error!r}")
            return window_ids <= self.mirrored_at.keys()

        wait_until(f"{len(window_ids)} windows to settle", done)
        return max(self.mirrored_at[w] for w in window_ids)


@dataclass
class NetResult:
    trades: int
    brokers: int
    seconds: float
    trades_per_s: float
    p50_settle_latency_s: float
    p99_settle_latency_s: float
    windows: int
    settlement_txs: int
    settle_calls_on_chain: int
    chain_txs: int
    gas_per_trade: float
    liquidity_saved_ratio: float
    submit_seconds: float
    reconcile_s: float
    balanced: bool
    window_length_s: float
    closed_at_cutoff: bool


def prepare(
    stack: Stack, trades: int, brokers: int, mode: str, round_index: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """Brokers registered (in the first round) and funded for the plan (net mode: into their
    settlement balances), the trades' bodies, and the first block the scenario's own transactions
    land in. Later rounds on one stack fund the same brokers again, under new trade references."""
    parties = register_brokers(stack.http, brokers) if round_index == 0 else list_brokers(stack.http, brokers)
    plan = plan_trades(trades, brokers, mode + (f"-r{round_index}" if round_index else ""))
    fund_brokers(stack.http, parties, payments_due(stack.http, plan, brokers), deposit=mode == "net")
    bodies = [trade_body(t, parties, mode) for t in plan]
    return bodies, int(stack.devnet.w3.eth.block_number) + 1


def net_run(stack: Stack, trades: int, brokers: int, batch_trades: int, clients: int, cutoff: bool) -> NetResult:
    http = stack.http
    bodies, first_block = prepare(stack, trades, brokers, "net")
    with WindowWatcher(stack.app) as watcher:
        submission = submit_all(stack.app, bodies, batch_trades, clients)
        window_of = [r.get("window_id") for r in submission.results]
        if None in window_of:
            raise BenchFailed(f"a net trade came back without a window: {submission.results[window_of.index(None)]}")
        window_ids = {int(w) for w in window_of if w is not None}
        if cutoff:  # closing a window the worker closed already answers its state
            expect(http.post(f"/v1/windows/{max(window_ids)}/close"), 202)
        finished = watcher.wait(window_ids)
    seconds = finished - submission.started
    latencies = [
        watcher.settled_at[int(w)] - sent
        for w, sent in zip(window_of, submission.sent_at, strict=True)
        if w is not None
    ]
    windows = [expect(http.get(f"/v1/windows/{w}")) for w in sorted(window_ids)]
    settled_trades = sum(int(w["trade_count"]) for w in windows)
    counts = trade_counts(http)
    if counts.get("SETTLED", 0) != trades or settled_trades != trades:
        raise BenchFailed(f"expected {trades} SETTLED trades, windows hold {settled_trades}; counts {counts}")
    last_block = max(int(w["settlement_block"]) for w in windows)
    usage = chain_usage(stack.devnet.rpc_url, first_block, last_block)
    net_address = (stack.devnet.manifest.net.address if stack.devnet.manifest.net else "").lower()
    gross_total = sum(Decimal(w["gross_total"]) for w in windows)
    net_total = sum(Decimal(w["net_total"]) for w in windows)
    reconcile_s, balanced, _ = reconcile(http)
    return NetResult(
        trades=trades,
        brokers=brokers,
        seconds=seconds,
        trades_per_s=trades / seconds,
        p50_settle_latency_s=percentile(latencies, 0.50),
        p99_settle_latency_s=percentile(latencies, 0.99),
        windows=len(windows),
        settlement_txs=len({w["settlement_tx_hash"] for w in windows}),
        settle_calls_on_chain=usage.by_target.get(net_address, 0),
        chain_txs=usage.txs,
        gas_per_trade=usage.gas / trades,
        liquidity_saved_ratio=float(1 - net_total / gross_total) if gross_total else 0.0,
        submit_seconds=submission.finished - submission.started,
        reconcile_s=reconcile_s,
        balanced=balanced,
        window_length_s=stack.app.window_length_s,
        closed_at_cutoff=cutoff,
    )


# ---------------------------------------------------------------------------------- gross


@dataclass
class GrossResult:
    trades: int
    seconds: float
    trades_per_s: float
    txs_per_trade: float
    gas_per_trade: float
    chain_txs: int
    submit_seconds: float


def gross_run(
    stack: Stack, trades: int, brokers: int, batch_trades: int, clients: int, round_index: int = 0
) -> GrossResult:
    """`round_index`: how many rounds of `trades` this stack settled before (--gross-rounds)."""
    http = stack.http
    bodies, first_block = prepare(stack, trades, brokers, "gross", round_index)
    submission = submit_all(stack.app, bodies, batch_trades, clients)
    wait_until("the gross trades to be released", lambda: not any_trades(http, GROSS_OPEN))
    last_block, _ = indexer_head(http)
    finished = wait_until("the ledger to mirror the releases", lambda: indexer_head(http)[1] >= last_block)
    seconds = finished - submission.started
    counts = trade_counts(http)
    if counts.get("RELEASED", 0) != trades * (round_index + 1):
        raise BenchFailed(f"expected {trades * (round_index + 1)} RELEASED trades; counts {counts}")
    usage = chain_usage(stack.devnet.rpc_url, first_block, last_block)
    if usage.failed:
        raise BenchFailed(f"{usage.failed} transactions reverted during the gross run")
    return GrossResult(
        trades=trades,
        seconds=seconds,
        trades_per_s=trades / seconds,
        txs_per_trade=usage.txs / trades,
        gas_per_trade=usage.gas / trades,
        chain_txs=usage.txs,
        submit_seconds=submission.finished - submission.started,
    )


# ---------------------------------------------------------------------------------- baselines


def naive_run(devnet: Devnet, trades: int) -> tuple[float, int]:
    """Per trade: approve, lock, release; each sent with web3 and awaited (5 ms receipt poll)."""
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
            receipt = w3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=RECEIPT_POLL_S)
            if receipt["status"] != 1:
                raise BenchFailed(f"naive trade {i}: a transaction reverted")
            gas += int(receipt["gasUsed"])
    return time.perf_counter() - started, gas


def presigned_transfers(devnet: Devnet, count: int) -> list[str]:
    """`count` token transfers among the devnet brokers, signed ahead (signing is not the chain's cost)."""
    chain = devnet.chain()
    senders: list[LocalAccount] = [Account.from_key(b.private_key) for b in devnet.manifest.brokers]
    nonces = {s.address: int(devnet.w3.eth.get_transaction_count(s.address)) for s in senders}
    base_fee = int(devnet.w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
    raws = []
    for i in range(count):
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
        raws.append(sender.sign_transaction(tx).raw_transaction.to_0x_hex())
    return raws


def send_raw_batches(client: httpx.Client, rpc_url: str, raws: Sequence[str]) -> None:
    for start in range(0, len(raws), RPC_BATCH_TXS):
        chunk = raws[start : start + RPC_BATCH_TXS]
        post_rpc_batch(client, rpc_url, "eth_sendRawTransaction", [[raw] for raw in chunk], "raw transfers")


def post_rpc_batch(client: httpx.Client, rpc_url: str, method: str, params: Sequence[list[Any]], what: str) -> None:
    """One JSON-RPC batch of `method` calls, sent raw; any call's error fails the run."""
    batch = [{"jsonrpc": "2.0", "id": i, "method": method, "params": p} for i, p in enumerate(params)]
    errors = [a["error"] for a in client.post(rpc_url, json=batch).raise_for_status().json() if "error" in a]
    if errors:
        raise BenchFailed(f"{len(errors)} {what} refused, first: {errors[0]}")


def chain_limit_run(devnet: Devnet, count: int) -> tuple[float, int, int]:
    """Pre-signed transfers, JSON-RPC batches, automine off, one explicit mine per block's worth;
    returns (seconds from the first send to the last transfer mined, transfers mined, gas used)."""
    raws = presigned_transfers(devnet, count)
    first_block = int(devnet.w3.eth.block_number) + 1
    devnet.rpc("evm_setAutomine", False)
    try:
        with httpx.Client(timeout=120) as client:
            started = time.perf_counter()
            for start in range(0, count, MINE_BATCH_TXS):
                send_raw_batches(client, devnet.rpc_url, raws[start : start + MINE_BATCH_TXS])
                devnet.rpc("evm_mine")
            while int(devnet.rpc("txpool_status")["pending"], 16):  # a block that could not take them all
                devnet.rpc("evm_mine")
            seconds = time.perf_counter() - started
    finally:
        devnet.rpc("evm_setAutomine", True)
    usage = chain_usage(devnet.rpc_url, first_block, int(devnet.w3.eth.block_number))
    mined = usage.txs - usage.failed
    if mined != count:
        raise BenchFailed(f"chain limit: {mined} of {count} transfers mined successfully")
    return seconds, mined, usage.gas


# ---------------------------------------------------------------------------------- report


def ratio(value: float, base: float | None) -> float | None:
    return round(value / base, 3) if base else None


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}x"


def net_json(r: NetResult, naive_rate: float | None, chain_rate: float | None) -> dict[str, Any]:
    return {
        "trades": r.trades,
        "brokers": r.brokers,
        "seconds": round(r.seconds, 3),
        "trades_per_s": round(r.trades_per_s, 1),
        "p50_settle_latency_s": round(r.p50_settle_latency_s, 3),
        "p99_settle_latency_s": round(r.p99_settle_latency_s, 3),
        "window_length_s": r.window_length_s,
        "last_window_closed_at_cutoff": r.closed_at_cutoff,
        "windows": r.windows,
        "settlement_txs": r.settlement_txs,
        "one_settlement_tx_per_window": r.settlement_txs == r.windows == r.settle_calls_on_chain,
        "settlement_calls_on_chain": r.settle_calls_on_chain,
        "chain_txs": r.chain_txs,
        "gas_per_trade": round(r.gas_per_trade, 1),
        "liquidity_saved_ratio": round(r.liquidity_saved_ratio, 4),
        "submit_seconds": round(r.submit_seconds, 3),
        "reconcile_s": round(r.reconcile_s, 3),
        "balanced": r.balanced,
        "vs_naive": ratio(r.trades_per_s, naive_rate),
        "vs_chain_limit": ratio(r.trades_per_s, chain_rate),
    }


def net_rows(r: NetResult, naive_rate: float | None, chain_rate: float | None) -> list[list[str]]:
    return [
        [
            "net (HTTP)",
            f"{r.trades:,}",
            f"{r.trades_per_s:,.1f}",
            fmt_ratio(ratio(r.trades_per_s, naive_rate)),
            fmt_ratio(ratio(r.trades_per_s, chain_rate)),
            f"{r.chain_txs / r.trades:.4f}",
            f"{r.gas_per_trade:,.0f}",
            f"{r.p99_settle_latency_s:.2f} s",
            f"{r.brokers} brokers, {r.windows} windows of {r.window_length_s:g} s "
            f"(the last closed {'at cut-off' if r.closed_at_cutoff else 'by its timer'}), {r.settlement_txs} settlement txs "
            f"({r.settle_calls_on_chain} txs to SettlementNet), liquidity saved {r.liquidity_saved_ratio:.1%}, "
            f"submit {r.submit_seconds:.1f} s, reconcile {r.reconcile_s:.2f} s "
            f"{'balanced' if r.balanced else 'BREAKS'}",
        ]
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute (CI smoke)")
    parser.add_argument("--trades", type=int, help="net trades (10,000; quick 1,000)")
    parser.add_argument("--gross-trades", type=int, help="gross trades (as --trades; quick 300)")
    parser.add_argument("--brokers", type=int, default=10)
    parser.add_argument("--naive-trades", type=int, help="naive baseline sample (100; quick 20)")
    parser.add_argument("--chain-transfers", type=int, help="chain-limit transfers (10,000; quick 2,000)")
    parser.add_argument("--batch-trades", type=int, default=1_000, help="trades per POST /v1/trades/batch")
    parser.add_argument("--clients", type=int, default=2, help="concurrent HTTP clients")
    parser.add_argument(
        "--api-servers", type=int, default=API_SERVERS, help=f"API-only server processes ({API_SERVERS})"
    )
    parser.add_argument("--window-s", type=float, default=NET_WINDOW_S, help=f"net window length ({NET_WINDOW_S} s)")
    parser.add_argument(
        "--window-trades-max",
        type=int,
        default=NET_WINDOW_TRADES_MAX,
        help=f"a net window closes at this many trades ({NET_WINDOW_TRADES_MAX:,})",
    )
    parser.add_argument("--net-trades", type=int, help="run only the net scenario, at this size")
    parser.add_argument(
        "--no-cutoff",
        action="store_true",
        help="net: let the last window close on its timer instead of the operator's cut-off close",
    )
    parser.add_argument("--scale", help="run only the net scenario at each size, e.g. 1000,10000,100000")
    parser.add_argument(
        "--gross-rounds",
        type=int,
        help="run only the gross scenario, this many rounds on one chain: does throughput fall as settled locks pile up?",
    )
    parser.add_argument(
        "--storage-probe",
        action="store_true",
        help="only probe anvil: plain transfers/s beside N escrow storage slots, set or set and cleared",
    )
    parser.add_argument("--output", type=Path, default=Path(RESULTS_FILE))
    args = parser.parse_args(argv)

    quick = args.quick
    workdir = Path(tempfile.mkdtemp(prefix="settlement-bench-"))
    results: dict[str, Any] = {
        "machine": machine(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "chain": "anvil, fresh per scenario (automine; chain limit: --no-mining style, explicit mines)",
        "database": "SQLite file",
        "deployment": deployment(args),
        "targets": TARGETS,
        "scenarios": {},
    }
    try:
        if args.storage_probe:
            return storage_probe(args, results)
        if args.gross_rounds:
            return gross_rounds(args, args.gross_rounds, workdir, results)
        if args.scale or args.net_trades:
            sizes = [int(s) for s in args.scale.split(",")] if args.scale else [args.net_trades]
            return scale_runs(args, sizes, workdir, results)
        return full_run(args, quick, workdir, results)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def deployment(args: argparse.Namespace) -> str:
    """How the measured service ran: the figures mean little without it."""
    return (
        f"1 worker server + {args.api_servers} API-only server(s); net windows of {args.window_s:g} s "
        f"or {args.window_trades_max:,} trades, the last closed "
        f"{'by its timer' if args.no_cutoff else 'at cut-off (after the last batch)'}; "
        f"{args.clients} HTTP clients, batches of {args.batch_trades:,}"
    )


def write_results(path: Path, results: dict[str, Any]) -> None:
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nresults: {path.resolve()}")


def full_run(args: argparse.Namespace, quick: bool, workdir: Path, results: dict[str, Any]) -> int:
    net_trades = args.trades or (1_000 if quick else 10_000)
    gross_trades = args.gross_trades or (300 if quick else net_trades)
    naive_trades = args.naive_trades or (20 if quick else 100)
    chain_transfers = args.chain_transfers or (2_000 if quick else 10_000)
    scenarios = results["scenarios"]

    say(f"chain limit: {chain_transfers:,} pre-signed transfers on a fresh anvil")
    devnet = Devnet.start()
    try:
        chain_seconds, mined, chain_gas = chain_limit_run(devnet, chain_transfers)
    finally:
        devnet.stop()
    chain_rate = mined / chain_seconds
    scenarios["chain_limit"] = {
        "transfers": mined,
        "seconds": round(chain_seconds, 3),
        "trades_per_s": round(chain_rate, 1),
        "gas_per_transfer": chain_gas // mined,
    }

    say(f"naive: {naive_trades} trades, approve + lock + release each awaited (5 ms poll), fresh anvil")
    devnet = Devnet.start()
    try:
        naive_seconds, naive_gas = naive_run(devnet, naive_trades)
    finally:
        devnet.stop()
    naive_rate = naive_trades / naive_seconds
    scenarios["naive"] = {
        "trades": naive_trades,
        "seconds": round(naive_seconds, 3),
        "trades_per_s": round(naive_rate, 2),
        "txs_per_trade": 3,
        "gas_per_trade": naive_gas // naive_trades,
        "receipt_poll_s": RECEIPT_POLL_S,
    }

    say(f"gross: {gross_trades:,} trades over HTTP, fresh anvil and ledger")
    with fresh_stack(workdir, "gross", api_servers=args.api_servers) as stack:
        gross = gross_run(stack, gross_trades, args.brokers, args.batch_trades, args.clients)
    scenarios["gross"] = {
        "trades": gross.trades,
        "seconds": round(gross.seconds, 3),
        "trades_per_s": round(gross.trades_per_s, 1),
        "txs_per_trade": round(gross.txs_per_trade, 4),
        "gas_per_trade": round(gross.gas_per_trade, 1),
        "chain_txs": gross.chain_txs,
        "submit_seconds": round(gross.submit_seconds, 3),
        "vs_naive": ratio(gross.trades_per_s, naive_rate),
        "vs_chain_limit": ratio(gross.trades_per_s, chain_rate),
    }

    net: NetResult | None = None
    net_error = None
    say(f"net: {net_trades:,} trades among {args.brokers} brokers over HTTP, fresh anvil")
    try:
        with fresh_stack(workdir, "net", args.window_s, args.window_trades_max, args.api_servers) as stack:
            net = net_run(stack, net_trades, args.brokers, args.batch_trades, args.clients, not args.no_cutoff)
        scenarios["net"] = net_json(net, naive_rate, chain_rate)
    except BenchFailed as exc:
        net_error = str(exc)
        scenarios["net"] = {"error": net_error}

    rows = []
    if net is not None:
        rows += net_rows(net, naive_rate, chain_rate)
    rows += [
        [
            "gross (HTTP)",
            f"{gross.trades:,}",
            f"{gross.trades_per_s:,.1f}",
            fmt_ratio(ratio(gross.trades_per_s, naive_rate)),
            fmt_ratio(ratio(gross.trades_per_s, chain_rate)),
            f"{gross.txs_per_trade:.4f}",
            f"{gross.gas_per_trade:,.0f}",
            "-",
            f"locked -> released -> mirrored; submit {gross.submit_seconds:.1f} s",
        ],
        [
            "naive (web3)",
            f"{naive_trades:,}",
            f"{naive_rate:,.2f}",
            "1.00x",
            fmt_ratio(ratio(naive_rate, chain_rate)),
            "3.0000",
            f"{naive_gas // naive_trades:,}",
            "-",
            "approve, lock, release: each sent and awaited, 5 ms receipt poll",
        ],
        [
            "chain limit",
            f"{mined:,}",
            f"{chain_rate:,.1f}",
            fmt_ratio(ratio(chain_rate, naive_rate)),
            "1.00x",
            "1.0000",
            f"{chain_gas // mined:,}",
            "-",
            f"one token transfer per trade; pre-signed transfers, JSON-RPC batches of {RPC_BATCH_TXS}, a mine per {MINE_BATCH_TXS}",
        ],
    ]
    print(f"\nmachine: {results['machine']}")
    print(f"chain: anvil, fresh per scenario | database: SQLite file | {deployment(args)}\n")
    headers = ["scenario", "trades", "trades/s", "vs naive", "vs chain limit", "txs/trade", "gas/trade", "p99", "note"]
    print(render_table(headers, rows, {1, 2, 3, 4, 5, 6, 7}, markdown=True))
    if net_error:
        print(f"\nnet scenario failed: {net_error}")
    write_results(args.output, results)
    return 1 if net_error else 0


def scale_runs(args: argparse.Namespace, sizes: Sequence[int], workdir: Path, results: dict[str, Any]) -> int:
    runs = []
    rows = []
    for size in sizes:
        say(f"net: {size:,} trades among {args.brokers} brokers over HTTP, fresh anvil")
        with fresh_stack(workdir, f"net-{size}", args.window_s, args.window_trades_max, args.api_servers) as stack:
            r = net_run(stack, size, args.brokers, args.batch_trades, args.clients, not args.no_cutoff)
        runs.append(net_json(r, None, None))
        rows.append(
            [
                f"{size:,}",
                f"{r.trades_per_s:,.1f}",
                f"{r.reconcile_s:.2f} s",
                f"{r.p99_settle_latency_s:.2f} s",
                f"{r.windows}",
                f"{r.gas_per_trade:,.0f}",
                "balanced" if r.balanced else "BREAKS",
            ]
        )
    results["scenarios"]["net_scale"] = runs
    print(f"\nmachine: {results['machine']}\n{deployment(args)}\n")
    headers = ["net trades", "trades/s", "reconcile", "p99 latency", "windows", "gas/trade", "reconciliation"]
    print(render_table(headers, rows, {0, 1, 2, 3, 4, 5}, markdown=True))
    write_results(args.output, results)
    return 0


def gross_rounds(args: argparse.Namespace, rounds: int, workdir: Path, results: dict[str, Any]) -> int:
    """Gross rounds on one chain and one ledger: a falling rate shows what settled trades cost
    later ones. The escrow deletes settled locks, but anvil keeps paying for every slot ever
    written (--storage-probe shows it)."""
    size = args.gross_trades or args.trades or 10_000
    runs = []
    rows = []
    with fresh_stack(workdir, "gross-rounds", api_servers=args.api_servers) as stack:
        for index in range(rounds):
            say(f"gross round {index + 1}/{rounds}: {size:,} trades over HTTP, {index * size:,} settled before")
            r = gross_run(stack, size, args.brokers, args.batch_trades, args.clients, round_index=index)
            runs.append({"settled_before": index * size, "trades": size, "trades_per_s": round(r.trades_per_s, 1)})
            rows.append([f"{index + 1}", f"{index * size:,}", f"{r.trades_per_s:,.1f}", f"{r.gas_per_trade:,.0f}"])
    results["scenarios"]["gross_rounds"] = runs
    print(f"\nmachine: {results['machine']}\n{deployment(args)}\n")
    headers = ["round", "settled locks before", "trades/s", "gas/trade"]
    print(render_table(headers, rows, {0, 1, 2, 3}, markdown=True))
    write_results(args.output, results)
    return 0


STORAGE_PROBE_SLOTS = (0, 2_000, 10_000, 40_000)
STORAGE_PROBE_TRANSFERS = 200
STORAGE_PROBE_SET_BATCH = 1_000
STORAGE_PROBE_FIRST_SLOT = 1_000_000  # plain slots the escrow never uses (its mappings hash elsewhere)


def storage_probe(args: argparse.Namespace, results: dict[str, Any]) -> int:
    """Why gross rounds slow down even though the escrow deletes settled locks: on a fresh anvil,
    fill N storage slots of the escrow (anvil_setStorageAt), optionally clear them to zero again,
    then time plain ETH transfers that never touch the escrow (automine, one block each)."""
    runs = []
    rows = []
    for slots in STORAGE_PROBE_SLOTS:
        for cleared in (False, True) if slots else (False,):
            say(f"storage probe: {slots:,} escrow slots{', cleared again' if cleared else ''}")
            rate = _transfers_beside_storage(slots, cleared)
            runs.append({"escrow_slots": slots, "cleared": cleared, "transfers_per_s": round(rate, 1)})
            rows.append([f"{slots:,}", "set, then cleared to 0" if cleared else "set", f"{rate:,.1f}"])
    results["scenarios"]["storage_probe"] = runs
    print(f"\nmachine: {results['machine']}\n")
    print(render_table(["escrow slots", "state", "transfers/s"], rows, {0, 2}, markdown=True))
    write_results(args.output, results)
    return 0


def _transfers_beside_storage(slots: int, cleared: bool) -> float:
    devnet = Devnet.start()
    try:
        escrow = devnet.manifest.escrow.address
        with httpx.Client(timeout=120) as client:
            for value in ("0x" + "11" * 32, "0x" + "00" * 32) if cleared else ("0x" + "11" * 32,):
                for start in range(0, slots, STORAGE_PROBE_SET_BATCH):
                    indexes = range(start, min(slots, start + STORAGE_PROBE_SET_BATCH))
                    params = [[escrow, hex(STORAGE_PROBE_FIRST_SLOT + i), value] for i in indexes]
                    post_rpc_batch(client, devnet.rpc_url, "anvil_setStorageAt", params, "storage writes")
                devnet.rpc("evm_mine")
            sender, receiver = devnet.w3.eth.accounts[0], Account.create().address
            transfer = {"from": sender, "to": receiver, "value": "0x1"}
            started = time.perf_counter()
            for i in range(STORAGE_PROBE_TRANSFERS):
                body = {"jsonrpc": "2.0", "id": i, "method": "eth_sendTransaction", "params": [transfer]}
                answer = client.post(devnet.rpc_url, json=body).raise_for_status().json()
                if "error" in answer:
                    raise BenchFailed(f"probe transfer refused: {answer['error']}")
            return STORAGE_PROBE_TRANSFERS / (time.perf_counter() - started)
    finally:
        devnet.stop()


def say(text: str) -> None:
    print(text, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
