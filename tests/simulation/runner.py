"""The driver: a seed chooses a sequence of broker operations and faults, run against the real parts.

Reproducibility: the seed fixes every choice the driver makes (which operation, which broker,
which trade, which fault, the proxy's fault draws), so the same seed sends the same kinds of
requests and injects the same faults in the same order. Timing is real, so where an answer was
lost (and so an id is unknown) a later request may differ; a failing seed fails again in
practice because the faults that broke it come back in the same order.
"""

from __future__ import annotations

import contextlib
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from settlement.config import DEVNET_MNEMONIC
from settlement.devnet.anvil import free_port
from settlement.devnet.deploy import deploy
from tests.faults.flaky_rpc import FlakyRpc, Noise
from tests.simulation.faults import AnvilNode, ServiceProcess, service_env
from tests.simulation.invariants import Checker, heal_and_settle
from tests.simulation.model import BrokerModel, IssueModel, Model, TradeModel

BROKERS = 3
REQUEST_TIMEOUT_S = 8.0
RECENT_TRADES = 12
SNAPSHOTS_MAX = 4
RUN_TIMEOUT_S = 1_800.0  # a whole run, ops and healing, never takes longer than this

# (operation, weight): broker actions first, then faults.
OPERATIONS: list[tuple[str, int]] = [
    ("submit", 18),
    ("retry_submit", 7),
    ("affirm", 14),
    ("confirm", 10),
    ("cancel", 9),
    ("delivered", 2),
    ("issue", 4),
    ("retry_issue", 2),
    ("pass_time", 4),
    ("pause", 5),
    ("kill_service", 2),
    ("proxy_noise", 3),
    ("proxy_clean", 1),
    ("restart_anvil", 1),
    ("snapshot", 2),
    ("revert", 1),
    ("reorg", 2),
]
NOISE_OPS_MIN, NOISE_OPS_MAX = 2, 8  # a noisy network lasts this many operations, then clears
FAULTS = {"kill_service", "proxy_noise", "restart_anvil", "revert", "reorg"}
# Fault kinds a run may inject (`--faults`): an operation above, or "swallow" (the proxy's
# noise also swallows eth_sendRawTransaction: a dropped transaction).
FAULT_KINDS = ("kill_service", "proxy_noise", "swallow", "restart_anvil", "revert", "reorg")


@dataclass
class Summary:
    seed: int
    ops: int
    trades: int = 0
    issues: int = 0
    faults: int = 0
    op_errors: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    violations: dict[str, list[str]] = field(default_factory=dict)
    elapsed_s: float = 0.0
    workdir: str = ""
    faults_enabled: frozenset[str] = frozenset(FAULT_KINDS)

    @property
    def ok(self) -> bool:
        return not any(self.violations.values())

    def line(self) -> str:
        parts = [
            f"chaos seed={self.seed} ops={self.ops} trades={self.trades} issues={self.issues} faults={self.faults}"
        ]
        parts += [f"{name}={len(found)}" for name, found in self.violations.items()]
        parts.append(f"op_errors={self.op_errors} time={self.elapsed_s:.0f}s")
        parts.append("OK" if self.ok else "FAIL")
        return " ".join(parts)

    def report(self) -> str:
        """The one-line summary, then each violation (at most a few per invariant) and how to reproduce."""
        lines = [self.line()]
        for name, found in self.violations.items():
            for detail in found[:5]:
                lines.append(f"  {name}: {detail}")
            if len(found) > 5:
                lines.append(f"  {name}: … and {len(found) - 5} more")
        if not self.ok:
            subset = (
                ""
                if self.faults_enabled == frozenset(FAULT_KINDS)
                else f" FAULTS={','.join(sorted(self.faults_enabled))}"
            )
            lines.append(f"  reproduce: make chaos SEED={self.seed} OPS={self.ops}{subset}  (logs in {self.workdir})")
        return "\n".join(lines)


class World:
    """The real parts of one run and the seeded choices made against them."""

    def __init__(self, seed: int, workdir: Path, faults: frozenset[str]) -> None:
        self.seed = seed
        self.faults = faults
        self.rng = random.Random(seed)
        self.workdir = workdir
        self.model = Model()
        self.log: list[str] = []
        self.anvil = AnvilNode(workdir)
        self.anvil.start()
        manifest = deploy(self.anvil.rpc_url, DEVNET_MNEMONIC)
        self.manifest = manifest
        deployments = workdir / "deployments"
        manifest.save(deployments / f"{manifest.chain_id}.json")
        self.start_block = self.anvil.w3.eth.block_number if self.anvil.w3 else 0
        self.anvil.floor_block = self.start_block
        self.proxy = FlakyRpc(self.anvil.rpc_url, seed=seed).__enter__()
        self.operator_key = "op_" + secrets.token_urlsafe(24)
        port = free_port()
        env = service_env(
            rpc_url=self.proxy.url,
            port=port,
            deployments_dir=deployments,
            data_dir=workdir / "data",
            database_url=f"sqlite:///{workdir / 'settlement.db'}",
            operator_key=self.operator_key,
        )
        self.service = ServiceProcess(env, port, workdir / "service.log")
        self.http = httpx.Client(base_url=self.service.base_url, timeout=REQUEST_TIMEOUT_S)
        self.noise_until = -1

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.http.close()
        self.service.kill()
        with contextlib.suppress(Exception):
            self.proxy.__exit__(None, None, None)
        self.anvil.stop()

    # ------------------------------------------------------------------ HTTP as a broker would

    def call(
        self, method: str, path: str, key: str | None, body: Any = None, idem: str | None = None
    ) -> tuple[int | None, Any]:
        """One request; (status, json) or (None, None) when no answer came (refused, timed out, cut)."""
        headers = {"Authorization": f"Bearer {key or self.operator_key}"}
        if idem is not None:
            headers["Idempotency-Key"] = idem
        try:
            response = self.http.request(method, path, json=body, headers=headers)
        except httpx.HTTPError:
            return None, None
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code >= 400 and isinstance(payload, dict):
            self.log.append(
                f"   {method} {path} -> {response.status_code} {payload.get('code')}: {payload.get('detail')}"
            )
        return response.status_code, payload

    def key_of(self, trade: TradeModel, role: str) -> str | None:
        if role == "operator":
            return None
        return self.model.brokers[trade.buyer if role == "buyer" else trade.seller].api_key

    # ------------------------------------------------------------------ setup

    def setup(self) -> None:
        if not self.service.start():
            raise RuntimeError(f"the service did not start; see {self.service.log_path}")
        for index in range(BROKERS):
            status, created = self.call(
                "POST",
                "/v1/participants",
                None,
                {"name": f"Sim Broker {index}", "jurisdiction": ("HK", "SG")[index % 2]},
            )
            if status != 201:
                raise RuntimeError(f"registering a broker failed: {status} {created}")
            self.model.brokers.append(BrokerModel(created["id"], created["address"], created["api_key"]))

    # ------------------------------------------------------------------ the operations

    def pick_trade(self, *, alleged_only: bool = False) -> TradeModel | None:
        """One of the recent trades (`alleged_only`: one a broker submitted, so one side may still agree)."""
        trades = [t for t in self.model.trades if t.submitter != "operator"] if alleged_only else self.model.trades
        if not trades:
            return None
        return trades[len(trades) - 1 - self.rng.randrange(min(RECENT_TRADES, len(trades)))]

    def note_trade_answer(self, trade: TradeModel, status: int | None, payload: Any) -> None:
        if status is None or status >= 300 or not isinstance(payload, dict):
            return
        trade.ids_answered.add(str(payload["id"]))
        trade.trade_id = trade.trade_id or str(payload["id"])
        trade.acknowledged = True
        trade.chain_trade_id = str(payload["chain_trade_id"])
        trade.settlement_base_units = int(Decimal(payload["settlement_amount"]) * 10**6)
        if payload.get("matched_by"):
            trade.match_acknowledged = True

    def op_submit(self, index: int) -> str:
        rng = self.rng
        buyer, seller = rng.sample(range(BROKERS), 2)
        submitter = rng.choices(["buyer", "seller", "operator"], weights=[45, 45, 10])[0]
        name = f"t{len(self.model.trades)}"
        body = {
            "trade_ref": f"s{self.seed}-{name}-{submitter}",
            "buyer_id": self.model.brokers[buyer].id,
            "seller_id": self.model.brokers[seller].id,
            "instrument": f"SIM{self.seed}.{name}",
            "quantity": str(rng.randint(1, 20)),
            "price": f"{rng.randint(10, 60)}.5",
            "currency": "HKD",
        }
        trade = TradeModel(name, buyer, seller, submitter, body, f"s{self.seed}-op{index}")
        trade.match_attempted = submitter == "operator"
        self.model.trades.append(trade)
        status, payload = self.call("POST", "/v1/trades", self.key_of(trade, submitter), body, trade.idempotency_key)
        self.note_trade_answer(trade, status, payload)
        return f"submit {name} by {submitter} -> {status}"

    def op_retry_submit(self, index: int) -> str:
        trade = self.pick_trade()
        if trade is None:
            return "retry_submit (no trade)"
        key = self.key_of(trade, trade.submitter)
        status, payload = self.call("POST", "/v1/trades", key, trade.body, trade.idempotency_key)
        self.note_trade_answer(trade, status, payload)
        return f"retry_submit {trade.name} -> {status}"

    def op_affirm(self, index: int) -> str:
        """The counterparty agrees: affirms the alleged trade, or submits its own same-terms instruction."""
        trade = self.pick_trade(alleged_only=True)
        if trade is None:
            return "affirm (nothing to affirm)"
        side = trade.counterparty
        mirror = self.rng.random() < 0.3
        if mirror and not trade.match_attempted:
            trade.match_attempted = True
            body = {**trade.body, "trade_ref": f"s{self.seed}-{trade.name}-{side}"}
            status, payload = self.call("POST", "/v1/trades", self.key_of(trade, side), body, f"s{self.seed}-op{index}")
            self.note_trade_answer(trade, status, payload)
            if isinstance(payload, dict) and payload.get("status") == "UNMATCHED":
                trade.submitter = side  # the first instruction never arrived: this one is now the alleged trade
            return f"mirror {trade.name} by {side} -> {status}"
        if trade.trade_id is None:
            return f"affirm {trade.name} (id unknown)"
        trade.match_attempted = True
        body = {"trade_ref": f"s{self.seed}-{trade.name}-{side}-a{index}"}
        status, payload = self.call(
            "POST", f"/v1/trades/{trade.trade_id}/affirm", self.key_of(trade, side), body, f"s{self.seed}-op{index}"
        )
        if status is not None and status < 300:
            trade.match_acknowledged = True
        return f"affirm {trade.name} by {side} -> {status}"

    def trade_action(
        self, index: int, action: str, roles: list[str], weights: list[int]
    ) -> tuple[TradeModel | None, str, int | None]:
        trade = self.pick_trade()
        role = self.rng.choices(roles, weights=weights)[0]
        if trade is None or trade.trade_id is None:
            return None, role, None
        status, _ = self.call(
            "POST", f"/v1/trades/{trade.trade_id}/{action}", self.key_of(trade, role), None, f"s{self.seed}-op{index}"
        )
        return trade, role, status

    def op_confirm(self, index: int) -> str:
        trade, role, status = self.trade_action(index, "confirm", ["buyer", "operator"], [9, 1])
        if trade is None:
            return "confirm (no trade)"
        trade.confirm_attempted = True
        trade.confirm_acknowledged |= status is not None and status < 300
        return f"confirm {trade.name} by {role} -> {status}"

    def op_cancel(self, index: int) -> str:
        trade, role, status = self.trade_action(index, "cancel", ["buyer", "seller", "operator"], [10, 10, 1])
        if trade is None:
            return "cancel (no trade)"
        trade.cancels_attempted.add(role)
        if status is not None and status < 300:
            trade.cancels_acknowledged.add(role)
        return f"cancel {trade.name} by {role} -> {status}"

    def op_delivered(self, index: int) -> str:
        trade, _role, status = self.trade_action(index, "delivered", ["seller"], [1])
        return "delivered (no trade)" if trade is None else f"delivered {trade.name} -> {status}"

    def send_issue(self, issue: IssueModel) -> int | None:
        broker = self.model.brokers[issue.broker]
        amount = str(Decimal(issue.amount_base_units) / 10**6)
        status, payload = self.call(
            "POST", f"/v1/participants/{broker.id}/issue", None, {"amount": amount}, issue.idempotency_key
        )
        if status is not None and status < 300 and isinstance(payload, dict):
            issue.tx_hashes.add(str(payload["tx_hash"]))
        return status

    def op_issue(self, index: int) -> str:
        issue = IssueModel(self.rng.randrange(BROKERS), self.rng.randint(1, 500) * 10**6, f"s{self.seed}-op{index}")
        self.model.issues.append(issue)
        return f"issue {len(self.model.issues) - 1} -> {self.send_issue(issue)}"

    def op_retry_issue(self, index: int) -> str:
        if not self.model.issues:
            return "retry_issue (none)"
        number = len(self.model.issues) - 1 - self.rng.randrange(min(4, len(self.model.issues)))
        return f"retry_issue {number} -> {self.send_issue(self.model.issues[number])}"

    def op_pass_time(self, index: int) -> str:
        seconds = self.rng.randint(60, 900)
        self.anvil.increase_time(seconds)
        return f"pass_time {seconds}s"

    def op_pause(self, index: int) -> str:
        pause_s = self.rng.uniform(0.3, 1.5)
        time.sleep(pause_s)
        return f"pause {pause_s:.1f}s"

    def op_kill_service(self, index: int) -> str:
        self.service.kill()
        started = self.service.start()
        return f"kill_service, restarted={started}"

    def op_proxy_noise(self, index: int) -> str:
        rng = self.rng
        noise = Noise(
            delay_s_max=rng.choice([0.05, 0.3, 1.0]),
            delay_rate=rng.choice([0.0, 0.2, 0.5]),
            error_rate=rng.choice([0.0, 0.05, 0.15]),
            drop_rate=rng.choice([0.0, 0.05, 0.15]),
            drop_answer_rate=rng.choice([0.0, 0.05, 0.1]),
            swallow_send_rate=rng.choice([0.0, 0.1, 0.3]) if "swallow" in self.faults else 0.0,
        )
        self.proxy.noise = noise
        self.noise_until = index + rng.randint(NOISE_OPS_MIN, NOISE_OPS_MAX)
        return f"proxy_noise until op {self.noise_until}: {noise}"

    def op_proxy_clean(self, index: int) -> str:
        self.proxy.heal()
        return "proxy_clean"

    def op_restart_anvil(self, index: int) -> str:
        self.anvil.restart()
        return "restart_anvil"

    def op_snapshot(self, index: int) -> str:
        if len(self.anvil.snapshots) >= SNAPSHOTS_MAX:
            self.anvil.snapshots.pop(0)
        self.anvil.snapshot()
        return "snapshot"

    def op_revert(self, index: int) -> str:
        return f"revert done={self.anvil.revert_to_snapshot()}"

    def op_reorg(self, index: int) -> str:
        depth = self.rng.randint(1, 3)
        return f"reorg depth={depth} done={self.anvil.reorg(depth)}"

    def operation(self, name: str) -> Callable[[int], str]:
        method: Callable[[int], str] = getattr(self, f"op_{name}")
        return method


def run(
    seed: int, ops: int, workdir: Path, *, faults: frozenset[str] = frozenset(FAULT_KINDS), verbose: bool = False
) -> Summary:
    """Run `ops` seeded operations with `faults`, heal, and check the invariants from the chain."""
    started = time.monotonic()
    summary = Summary(seed=seed, ops=ops, workdir=str(workdir), faults_enabled=faults)
    workdir.mkdir(parents=True, exist_ok=True)
    world = World(seed, workdir, faults)
    try:
        world.setup()
        enabled = [(name, weight) for name, weight in OPERATIONS if name not in FAULTS or name in faults]
        names = [name for name, _ in enabled]
        weights = [weight for _, weight in enabled]
        for index in range(ops):
            if time.monotonic() - started > RUN_TIMEOUT_S / 2:
                world.log.append(f"{index}: stopped early, over half the run's time budget")
                break
            name = world.rng.choices(names, weights=weights)[0]
            summary.counts[name] = summary.counts.get(name, 0) + 1
            if name in FAULTS:
                summary.faults += 1
            try:
                outcome = world.operation(name)(index)
            except Exception as exc:  # a fault that could not be injected (anvil refused): logged, not a violation
                outcome = f"{name} failed to run: {exc!r}"
                summary.op_errors += 1
            world.log.append(f"{index} [{time.monotonic() - started:.1f}s]: {outcome}")
            if verbose:
                print(world.log[-1], flush=True)
            if index == world.noise_until:
                world.proxy.heal()
                world.log.append(f"{index}: proxy noise over")
            time.sleep(world.rng.uniform(0.02, 0.15))
        started_again = heal_and_settle(
            world.proxy, world.anvil, world.service, world.http, world.operator_key, world.log
        )
        checker = Checker(world.model, world.manifest, world.anvil, world.http, world.operator_key, world.start_block)
        summary.violations = checker.run(
            None if started_again else f"the healed service did not start: {world.service.last_error()}"
        )
    finally:
        (workdir / "ops.log").write_text("\n".join(world.log) + "\n")
        world.close()
    summary.trades = len(world.model.acknowledged_trades())
    summary.issues = sum(1 for issue in world.model.issues if issue.acknowledged)
    summary.elapsed_s = time.monotonic() - started
    return summary
