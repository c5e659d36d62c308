"""Healing the faults, then checking what happened from the chain itself.

The chain is the judge: escrow events and locks, token mints, the escrow's balance. The
service's answers are compared with it, and both with the simulation's own record (model.py).
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter, defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
from web3 import Web3

from settlement.chain.client import ChainClient, LockStatus
from settlement.chain.trade_ids import chain_trade_key
from settlement.manifest import DeploymentManifest
from tests.faults.flaky_rpc import FlakyRpc
from tests.simulation.faults import AnvilNode, ServiceProcess
from tests.simulation.model import Model

SERVICE_STARTS_MAX = 2
SETTLE_TIMEOUT_S = 45.0
POLL_S = 0.5
PAGES_MAX = 100
PAGE_ITEMS = 200
DEADLINE_SLACK_S = 120
OPEN = {"PENDING", "LOCKED"}
ZERO_ADDRESS = "0x" + "00" * 20
INVARIANTS = (
    "available",
    "paid_twice",
    "wrong_terms",
    "lost",
    "duplicates",
    "unconsented",
    "stuck",
    "escrow",
    "status_mirror",
    "ledger",
    "verify",
)
# The service's status for each escrow lock status, once everything has settled.
CHAIN_STATUS = {"LOCKED": LockStatus.LOCKED, "RELEASED": LockStatus.RELEASED, "REFUNDED": LockStatus.REFUNDED}


def operator_get(http: httpx.Client, operator_key: str, path: str, **params: Any) -> Any:
    response = http.get(path, params=params, headers={"Authorization": f"Bearer {operator_key}"})
    response.raise_for_status()
    return response.json()


def all_trades(http: httpx.Client, operator_key: str) -> list[dict[str, Any]]:
    trades: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(PAGES_MAX):
        params: dict[str, Any] = {"limit": PAGE_ITEMS} | ({"cursor": cursor} if cursor else {})
        page = operator_get(http, operator_key, "/v1/trades", **params)
        trades += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return trades


def _busy(trade: dict[str, Any]) -> bool:
    """Work the worker still owes: a lock to take, or a confirmed or cancelled lock to settle."""
    if trade["status"] == "PENDING":
        return True
    return trade["status"] == "LOCKED" and bool(trade["release_requested"] or trade["cancel_requested"])


def wait_until(http: httpx.Client, operator_key: str, done: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
            if done(all_trades(http, operator_key)):
                return True
        time.sleep(POLL_S)
    return False


def heal_and_settle(
    proxy: FlakyRpc, anvil: AnvilNode, service: ServiceProcess, http: httpx.Client, operator_key: str, log: list[str]
) -> bool:
    """No more faults; a clean restart (recovery runs); settle what was asked; then let every
    deadline pass so whatever is left open is refunded, and settle again. False if the service
    would not start."""
    proxy.heal()
    service.kill()
    for attempt in range(SERVICE_STARTS_MAX):
        if service.start():
            break
        log.append(f"heal: service start {attempt + 1} failed")
        service.kill()
    else:
        return False
    settled = wait_until(http, operator_key, lambda trades: not any(_busy(t) for t in trades), SETTLE_TIMEOUT_S)
    log.append(f"heal: settled asked work={settled}")
    with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
        trades = all_trades(http, operator_key)
        latest_deadline_s = max((int(datetime.fromisoformat(t["deadline"]).timestamp()) for t in trades), default=0)
        gap_s = latest_deadline_s + DEADLINE_SLACK_S - anvil.latest_timestamp()
        if gap_s > 0:
            anvil.increase_time(gap_s)
        log.append(f"heal: chain clock moved {max(gap_s, 0)}s past every deadline")
    quiet = wait_until(
        http, operator_key, lambda trades: not any(t["status"] in OPEN for t in trades), SETTLE_TIMEOUT_S
    )
    log.append(f"heal: nothing open={quiet}")
    return True


class Checker:
    """Each invariant a list of violations; empty lists mean it held."""

    def __init__(
        self,
        model: Model,
        manifest: DeploymentManifest,
        anvil: AnvilNode,
        http: httpx.Client,
        operator_key: str,
        start_block: int,
    ) -> None:
        assert anvil.w3 is not None
        self.model = model
        self.w3: Web3 = anvil.w3
        self.chain = ChainClient(anvil.w3, manifest)
        self.deploy_block = manifest.deploy_block
        self.escrow_address = manifest.escrow.address
        self.http = http
        self.operator_key = operator_key
        self.start_block = start_block
        self.found: dict[str, list[str]] = {name: [] for name in INVARIANTS}

    def run(self, service_down: str | None = None) -> dict[str, list[str]]:
        """All invariants; with the service down (`service_down` says why), only the chain's own."""
        events = self._escrow_events()
        self._paid_once(events)
        self._issues()
        self._consent(events)
        trades: list[dict[str, Any]] = []
        if service_down is None:
            try:
                trades = all_trades(self.http, self.operator_key)
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                service_down = f"could not list the service's trades: {exc!r}"
        if service_down is not None:
            self.found["available"].append(service_down)
            self._escrow_balance([])
            return self.found
        self._terms(trades, events)
        self._acknowledged_trades(trades)
        self._nothing_stuck(trades)
        self._escrow_balance(trades)
        self._status_mirror(trades)
        self._ledger()
        return self.found

    # ------------------------------------------------------------------ chain reads

    def _escrow_events(self) -> dict[str, dict[bytes, list[Any]]]:
        events: dict[str, dict[bytes, list[Any]]] = {}
        for name in ("Locked", "Released", "Refunded"):
            by_trade: dict[bytes, list[Any]] = defaultdict(list)
            for log in getattr(self.chain.escrow.events, name)().get_logs(from_block=self.deploy_block):
                by_trade[bytes(log["args"]["tradeId"])].append(log)
            events[name] = by_trade
        return events

    # ------------------------------------------------------------------ the invariants

    def _paid_once(self, events: dict[str, dict[bytes, list[Any]]]) -> None:
        """No trade locked twice, paid twice, refunded twice, or both paid and refunded."""
        keys = set(events["Locked"]) | set(events["Released"]) | set(events["Refunded"])
        for key in keys:
            counts = {name: len(events[name].get(key, [])) for name in events}
            if counts["Locked"] > 1 or counts["Released"] > 1 or counts["Refunded"] > 1:
                self.found["paid_twice"].append(f"0x{key.hex()}: {counts}")
            elif counts["Released"] and counts["Refunded"]:
                self.found["paid_twice"].append(f"0x{key.hex()}: both released and refunded")

    def _terms(self, trades: list[dict[str, Any]], events: dict[str, dict[bytes, list[Any]]]) -> None:
        """Every lock carries the trade's payer, payee and amount; the payee gets that amount."""
        addresses = {b.id: b.address.lower() for b in self.model.brokers}
        for trade in trades:
            key = chain_trade_key(trade["chain_trade_id"])
            amount = int(Decimal(trade["settlement_amount"]) * 10**6)
            for log in events["Locked"].get(key, []):
                args = log["args"]
                seen = (str(args["payer"]).lower(), str(args["payee"]).lower(), int(args["amount"]))
                wanted = (addresses.get(trade["buyer_id"]), addresses.get(trade["seller_id"]), amount)
                if seen != wanted:
                    self.found["wrong_terms"].append(f"trade {trade['id']}: locked {seen}, agreed {wanted}")
            for log in events["Released"].get(key, []):
                if int(log["args"]["amount"]) != amount:
                    self.found["wrong_terms"].append(
                        f"trade {trade['id']}: released {log['args']['amount']} != {amount}"
                    )

    def _acknowledged_trades(self, trades: list[dict[str, Any]]) -> None:
        """Every acknowledged trade exists once; a retry with the same key never made another."""
        ids = {t["id"] for t in trades}
        per_instrument = Counter(t["instrument"] for t in trades)
        for model_trade in self.model.trades:
            instrument = model_trade.body["instrument"]
            if model_trade.acknowledged and not model_trade.ids_answered <= ids:
                self.found["lost"].append(
                    f"{model_trade.name}: acknowledged as {model_trade.ids_answered}, not in the service"
                )
            if len(model_trade.ids_answered) > 1:
                self.found["duplicates"].append(
                    f"{model_trade.name}: answered with ids {sorted(model_trade.ids_answered)}"
                )
            if per_instrument[instrument] > 1:
                self.found["duplicates"].append(
                    f"{model_trade.name}: {per_instrument[instrument]} trades for {instrument}"
                )

    def _issues(self) -> None:
        """Each acknowledged issue minted (exactly once per Idempotency-Key), none twice."""
        minted: Counter[str] = Counter()
        transfers = self.chain.token.events.Transfer().get_logs(from_block=self.start_block + 1)
        for log in transfers:
            if str(log["args"]["from"]).lower() == ZERO_ADDRESS:
                minted[str(log["args"]["to"]).lower()] += int(log["args"]["value"])
        for index, broker in enumerate(self.model.brokers):
            issues = [i for i in self.model.issues if i.broker == index]
            acknowledged = sum(i.amount_base_units for i in issues if i.acknowledged)
            attempted = sum(i.amount_base_units for i in issues)
            got = minted[broker.address.lower()]
            if got < acknowledged:
                self.found["lost"].append(f"broker {index}: minted {got} < acknowledged issues {acknowledged}")
            if got > attempted:
                self.found["duplicates"].append(f"broker {index}: minted {got} > every issue asked {attempted}")
        for number, issue in enumerate(self.model.issues):
            if len(issue.tx_hashes) > 1:
                self.found["duplicates"].append(f"issue {number}: one key answered with {sorted(issue.tx_hashes)}")

    def _consent(self, events: dict[str, dict[bytes, list[Any]]]) -> None:
        """Paid only what the buyer (or operator) confirmed; locked only what both sides agreed."""
        for trade in self.model.trades:
            if trade.chain_trade_id is None:
                continue
            key = chain_trade_key(trade.chain_trade_id)
            if events["Released"].get(key) and not trade.confirm_attempted:
                self.found["unconsented"].append(f"{trade.name}: released, never confirmed")
            if events["Locked"].get(key) and not trade.match_attempted:
                self.found["unconsented"].append(f"{trade.name}: locked, the counterparty never agreed")

    def _nothing_stuck(self, trades: list[dict[str, Any]]) -> None:
        """After healing and every deadline passing, nothing is open, in the service or on chain."""
        for trade in trades:
            if trade["status"] in OPEN:
                self.found["stuck"].append(f"trade {trade['id']} still {trade['status']} past its deadline")
        known = {chain_trade_key(t["chain_trade_id"]) for t in trades}
        for key in known:
            if self.chain.get_lock(key).status == LockStatus.LOCKED:
                self.found["stuck"].append(f"lock 0x{key.hex()} still open on chain past its deadline")

    def _escrow_balance(self, trades: list[dict[str, Any]]) -> None:
        """The escrow holds exactly the open locks."""
        balance = self.chain.balance_of(self.escrow_address)
        total_locked = self.chain.total_locked()
        open_locks = 0
        for trade in trades:
            lock = self.chain.get_lock(chain_trade_key(trade["chain_trade_id"]))
            if lock.status == LockStatus.LOCKED:
                open_locks += lock.amount_base_units
        if balance != total_locked or (trades and total_locked != open_locks):
            self.found["escrow"].append(f"balance {balance}, totalLocked {total_locked}, open locks {open_locks}")

    def _status_mirror(self, trades: list[dict[str, Any]]) -> None:
        """The service's status says what the escrow did."""
        for trade in trades:
            lock = self.chain.get_lock(chain_trade_key(trade["chain_trade_id"]))
            expected = CHAIN_STATUS.get(trade["status"], LockStatus.NONE)
            if lock.status != expected:
                self.found["status_mirror"].append(
                    f"trade {trade['id']}: service {trade['status']}, escrow {lock.status}"
                )

    def _ledger(self) -> None:
        """The ledger mirrors the chain (reconcile) and its hash chain is intact (verify)."""
        try:
            report = operator_get(self.http, self.operator_key, "/v1/reconciliation")
            if not report["balanced"]:
                self.found["ledger"] += [str(b) for b in report["breaks"]] or ["not balanced"]
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            self.found["ledger"].append(f"reconciliation failed: {exc!r}")
        try:
            verify = operator_get(self.http, self.operator_key, "/v1/audit/verify")
            if not verify["ok"]:
                self.found["verify"] += [str(p) for p in verify["problems"]] or ["not ok"]
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            self.found["verify"].append(f"verify failed: {exc!r}")
