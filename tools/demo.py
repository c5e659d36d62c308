"""`make demo`: a cross-border settlement day, driven entirely through the HTTP API.

One process tree: a fresh anvil on a free port (with the contracts deployed), a fresh SQLite
ledger under data/, the engine's worker and the API on settings.api_port (or a free port).
Then, as the brokers and the operator would, over HTTP:

- three brokers register: a Hong Kong broker, a mainland broker's Hong Kong arm, a Singapore
  broker; coins are issued to each, clients are opened and funded from the omnibus wallets;
- each broker pre-funds a settlement balance in the net settlement contract (the deposit route):
  net-mode windows debit and credit those balances, never the wallets;
- twelve trades in HKD, CNH, USD and SGD between them and their clients are alleged by one side
  and agreed by the other (an affirmation, or its own matching instruction). Most settle net:
  confirmed, they wait in the open settlement window; one settles gross (its own escrow lock and
  release), to show both. One net trade is cancelled by both parties before confirmation
  (FAILED, nothing moved); one gross trade is left until its deadline passes (anvil's clock is
  moved forward) and the worker sweeps its lock back to the buyer;
- the operator closes the window; the worker settles it in one SettlementNet transaction. Each
  window's gross and net amounts per broker and the liquidity saved are printed, with its
  settlement tx and the Merkle root of its trades; one trade's inclusion proof is fetched and
  checked against the chain with the package's own verifier (what a counterparty would run);
- a summary is printed, then the reconciliation and the audit-chain verification with its
  on-chain anchors.

It exits non-zero if the day did not go as planned, the ledger does not reconcile, or the journal
does not verify. Otherwise it keeps serving (the /docs URL is printed) until Ctrl-C;
DEMO_EXIT=1 stops after the day, for scripts.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from settlement.chain.artifacts import load_artifact
from settlement.chain.client import connect
from settlement.chain.merkle import TradeProof
from settlement.chain.net_settlement import check_trade_proof
from settlement.config import Settings, get_settings
from settlement.devnet.anvil import AnvilConfig, AnvilProcess, free_port, port_in_use
from settlement.devnet.deploy import BROKER_FUNDING_COINS, deploy
from settlement.testing.app import SettlementApp, running_app
from settlement.testing.devnet import Devnet
from settlement.text_table import render_table as table

POLL_S = 0.2
CAST = "node_modules/@foundry-rs/cast-linux-amd64/bin/cast"
WAIT_S = 60.0
SHORT_DEADLINE_S = 120
CLOCK_JUMP_S = SHORT_DEADLINE_S + 60
CENT = Decimal("0.01")
DEMO_DATABASE = "demo.db"  # one file, replaced at each run: each run has a fresh chain
DEMO_DEPLOYMENTS = (
    "demo-deployments"  # where the demo's manifest goes, for `python -m settlement.devnet status` and cast
)


@dataclass(frozen=True)
class BrokerSpec:
    code: str
    name: str
    jurisdiction: str
    issue: str
    clients: tuple[tuple[str, str], ...]  # (name, coins allocated)


@dataclass(frozen=True)
class TradeSpec:
    ref: str
    buyer: str  # "CODE/client index" (a client's trade, gross), or "CODE" (the broker's own, net)
    seller: str
    instrument: str
    quantity: str
    price: str
    currency: str
    outcome: str  # "settle" (net) | "cancel" (net, before confirmation) | "release" (gross) | "expire" (gross)

    @property
    def mode(self) -> str:
        return "net" if self.outcome in ("settle", "cancel") else "gross"


BROKERS = (
    BrokerSpec(
        "KBS",
        "Kowloon Bay Securities Ltd",
        "HK",
        "1000000",
        (("Chan Family Office", "300000"), ("Aberdeen Harbour Fund", "300000")),
    ),
    BrokerSpec(
        "JRS",
        "Jade River Securities (Hong Kong) Ltd, Hong Kong arm of Jade River Securities Co. (Shanghai)",
        "HK",
        "1000000",
        (("Qianhai Growth Fund (Shenzhen)", "300000"), ("Li Wei (Southbound Connect)", "300000")),
    ),
    BrokerSpec(
        "MSB",
        "Marina Straits Brokers Pte Ltd",
        "SG",
        "1000000",
        (("Orchard Pension Trust", "300000"), ("Tan Holdings Pte Ltd", "300000")),
    ),
)

TRADES = (
    TradeSpec("KBS-0001", "KBS/0", "MSB/0", "0700.HK Tencent", "2000", "388.20", "HKD", "release"),
    TradeSpec("JRS-0001", "JRS", "KBS", "9988.HK Alibaba", "5000", "84.35", "HKD", "settle"),
    TradeSpec("MSB-0001", "MSB", "JRS", "CGB 2.65% 2034 (CNH)", "1000000", "1.0125", "CNH", "settle"),
    TradeSpec("KBS-0002", "KBS", "JRS", "Dim sum bond 3.1% 2029", "500000", "0.998", "CNH", "settle"),
    TradeSpec("JRS-0002", "JRS", "MSB", "D05.SI DBS Group", "3000", "42.15", "SGD", "settle"),
    TradeSpec("MSB-0002", "MSB", "KBS", "AAPL Apple", "400", "227.48", "USD", "settle"),
    TradeSpec("KBS-0003", "KBS", "MSB", "Z74.SI Singtel", "20000", "3.12", "SGD", "settle"),
    TradeSpec("JRS-0003", "JRS", "MSB", "UST 4.25% 2034", "100000", "0.9931", "USD", "settle"),
    TradeSpec("MSB-0003", "MSB", "KBS", "0005.HK HSBC", "8000", "78.60", "HKD", "settle"),
    TradeSpec("KBS-0004", "KBS", "JRS", "2800.HK Tracker Fund", "10000", "24.58", "HKD", "settle"),
    TradeSpec("JRS-0004", "JRS", "KBS", "0941.HK China Mobile", "3000", "81.75", "HKD", "cancel"),
    TradeSpec("MSB-0004", "MSB/0", "JRS/0", "CGB 2.4% 2031 (CNH)", "300000", "1.004", "CNH", "expire"),
)

EXPECTED = {"settle": "SETTLED", "cancel": "FAILED", "release": "RELEASED", "expire": "REFUNDED"}
# What each broker moves into its settlement balance before the day: more than its net debit at
# any moment (a matched net trade reserves its full amount against the payer's cover until its
# window nets it).
SETTLEMENT_DEPOSIT = "400000"
# The demo's windows stay open long enough for the operator's close to be what settles them (the
# default timer, SETTLEMENT_WINDOW_LENGTH_S, would close them within seconds); a window the timer
# closed anyway is simply settled already when the operator asks.
DEMO_WINDOW_LENGTH_S = 120.0


class DemoFailed(Exception):
    """The day did not go as planned; the message says where."""


@dataclass
class Broker:
    spec: BrokerSpec
    id: str
    address: str
    api_key: str
    http: httpx.Client
    client_ids: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------- helpers


def say(text: str = "") -> None:
    print(text, flush=True)


def expect(response: httpx.Response, status: int) -> Any:
    if response.status_code != status:
        raise DemoFailed(
            f"{response.request.method} {response.request.url.path} -> {response.status_code}: {response.text}"
        )
    return response.json()


def wait_until(what: str, check: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise DemoFailed(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(POLL_S)


def coins(value: str) -> str:
    """One format for coins in tables: thousands separators and two decimals (half-even). The
    exact amount, to the base unit, is on the trade's page in the dashboard and in the API."""
    return f"{Decimal(value).quantize(CENT, rounding=ROUND_HALF_EVEN):,.2f}"


# ---------------------------------------------------------------------------------- the day


class Day:
    def __init__(self, app: SettlementApp, devnet: Devnet) -> None:
        self.app = app
        self.devnet = devnet
        self.operator = app.client()
        self.brokers: dict[str, Broker] = {}
        self.trades: dict[str, dict[str, Any]] = {}
        self.windows: dict[int, dict[str, Any]] = {}  # the day's settled windows, by id
        self.proof: dict[str, Any] | None = None  # the trade proof the day checked against the chain
        self.proof_checked = False

    def party(self, ref: str) -> tuple[Broker, str | None]:
        code, _, index = ref.partition("/")
        broker = self.brokers[code]
        return broker, broker.client_ids[int(index)] if index else None

    def code_of(self, participant_id: str) -> str:
        return next((b.spec.code for b in self.brokers.values() if b.id == participant_id), participant_id)

    def run(self) -> bool:
        self.onboard()
        self.fund()
        self.prefund()
        self.submit()
        self.settle()
        self.close_windows()
        self.prove()
        self.expire()
        return self.report()

    def onboard(self) -> None:
        say("1. Brokers register (operator: POST /v1/participants)")
        for spec in BROKERS:
            created = expect(
                self.operator.post("/v1/participants", json={"name": spec.name, "jurisdiction": spec.jurisdiction}),
                201,
            )
            http = self.app.client(created["api_key"])
            self.brokers[spec.code] = Broker(spec, created["id"], created["address"], created["api_key"], http)
            say(f"   {spec.code}  {spec.jurisdiction}  {created['address']}  {spec.name}")

    def fund(self) -> None:
        say("\n2. Coins issued to each omnibus wallet, then allocated to the brokers' clients")
        say(
            "   Each broker's devnet account was pre-funded when the contracts were deployed (devnet/deploy.py mints\n"
            f"   {coins(str(BROKER_FUNDING_COINS))} coins to every devnet broker account, so tests and `make serve` have coins to trade);\n"
            "   the issuer now issues more on top, over the API:"
        )
        for broker in self.brokers.values():
            before = expect(broker.http.get(f"/v1/participants/{broker.id}/balances"), 200)["on_chain"]
            issued = expect(
                self.operator.post(f"/v1/participants/{broker.id}/issue", json={"amount": broker.spec.issue}), 200
            )
            say(
                f"   {broker.spec.code}  held {coins(before)} (deploy-time funding), issued {coins(issued['amount'])}"
                f"  tx {issued['tx_hash']}"
            )
        for broker in self.brokers.values():
            # Allocation moves mirrored coins: wait until the ledger has caught up with the mint.
            wait_until(f"the ledger to mirror {broker.spec.code}'s wallet", functools.partial(self.mirrored, broker))
            for name, amount in broker.spec.clients:
                client = expect(broker.http.post(f"/v1/participants/{broker.id}/clients", json={"name": name}), 201)
                broker.client_ids.append(client["id"])
                expect(
                    broker.http.post(
                        f"/v1/participants/{broker.id}/clients/{client['id']}/allocate", json={"amount": amount}
                    ),
                    200,
                )
                say(f"   {broker.spec.code}  client {name}: {coins(amount)} coins")

    def mirrored(self, broker: Broker) -> bool:
        balances = expect(broker.http.get(f"/v1/participants/{broker.id}/balances"), 200)
        return bool(balances["ledger"] == balances["on_chain"])

    def prefund(self) -> None:
        say("\n3. Brokers pre-fund their settlement balances (POST /v1/participants/{id}/settlement-balance/deposit)")
        say(
            "   Net settlement pays each window's net positions out of these balances, held by the SettlementNet\n"
            "   contract, so a window settles in one transaction without touching the wallets; a broker's net\n"
            "   trades are accepted only while its balance covers what it may owe."
        )
        for broker in self.brokers.values():
            moved = expect(
                broker.http.post(
                    f"/v1/participants/{broker.id}/settlement-balance/deposit",
                    json={"amount": SETTLEMENT_DEPOSIT},
                    headers={"Idempotency-Key": str(uuid.uuid4())},
                ),
                200,
            )
            say(f"   {broker.spec.code}  deposited {coins(moved['amount'])}  tx {moved['tx_hash']}")
        for broker in self.brokers.values():
            wait_until(
                f"the ledger to mirror {broker.spec.code}'s settlement balance",
                functools.partial(self.settlement_mirrored, broker),
            )

    def settlement_mirrored(self, broker: Broker) -> bool:
        b = expect(broker.http.get(f"/v1/participants/{broker.id}/settlement-balance"), 200)
        return bool(b["ledger"] == b["on_chain"]) and Decimal(b["on_chain"]) == Decimal(SETTLEMENT_DEPOSIT)

    def submit(self) -> None:
        say(
            "\n4. Twelve trades: one side submits (POST /v1/trades, alleged), the other agrees"
            " (POST .../affirm, or the same terms under its own ref).\n"
            "   Ten settle net (settlement_mode net): the brokers' own (house) trades, no escrow lock, reserved against\n"
            "   the buyer's settlement balance. Two settle gross, each locked in escrow: trades for clients' accounts"
        )
        for number, spec in enumerate(TRADES):
            buyer, buyer_client = self.party(spec.buyer)
            seller, seller_client = self.party(spec.seller)
            submitter = buyer if number % 2 == 0 else seller
            body: dict[str, Any] = {
                "trade_ref": spec.ref,
                "buyer_id": buyer.id,
                "seller_id": seller.id,
                "instrument": spec.instrument,
                "quantity": spec.quantity,
                "price": spec.price,
                "currency": spec.currency,
                "settlement_mode": spec.mode,
            }
            if spec.mode == "gross":  # net mode settles the brokers' own positions: a client's trade settles gross
                body |= {"buyer_client_id": buyer_client, "seller_client_id": seller_client}
            if spec.outcome == "expire":
                body["deadline"] = (datetime.now(UTC) + timedelta(seconds=SHORT_DEADLINE_S)).isoformat()
            alleged = expect(
                submitter.http.post("/v1/trades", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}), 202
            )
            counterparty = seller if submitter is buyer else buyer
            own_ref = f"{counterparty.spec.code}-{spec.ref}"
            if number % 4 < 2:  # the counterparty affirms the alleged trade
                trade = expect(
                    counterparty.http.post(f"/v1/trades/{alleged['id']}/affirm", json={"trade_ref": own_ref}), 202
                )
                how = f"alleged by {submitter.spec.code}, affirmed by {counterparty.spec.code}"
            else:  # the counterparty sends its own instruction with the same terms: it matches
                trade = expect(
                    counterparty.http.post(
                        "/v1/trades",
                        json={**body, "trade_ref": own_ref},
                        headers={"Idempotency-Key": str(uuid.uuid4())},
                    ),
                    202,
                )
                how = f"both sides instructed, matched on terms ({submitter.spec.code} first)"
            if trade["id"] != alleged["id"] or trade["status"] != "PENDING":
                raise DemoFailed(f"{spec.ref} did not match: {trade['status']}")
            if trade.get("settlement_mode") != spec.mode:
                raise DemoFailed(f"{spec.ref} is {trade.get('settlement_mode')}, not {spec.mode}")
            self.trades[spec.ref] = trade
            say(
                f"   {spec.ref}  {spec.mode:5}  {buyer.spec.code} buys from {seller.spec.code}  {spec.quantity} "
                f"{spec.instrument} @ {spec.price} {spec.currency}  = {coins(trade['settlement_amount'])} coins  [{how}]"
            )
        self.wait_for_status({s.ref for s in TRADES if s.mode == "gross"}, "LOCKED", "the gross locks on chain")
        say("   the two gross trades locked in escrow; the ten net trades matched (PENDING), nothing locked")

    def settle(self) -> None:
        say(
            "\n5. Sellers report delivery, buyers confirm receipt: a net trade joins the open settlement window"
            " (IN_WINDOW),\n   the gross one is released from escrow. One net trade is cancelled by both parties"
            " before confirmation; one gross trade is left to lapse"
        )
        for spec in TRADES:
            trade = self.trades[spec.ref]
            buyer, _ = self.party(spec.buyer)
            seller, _ = self.party(spec.seller)
            if spec.outcome in ("settle", "release"):
                expect(seller.http.post(f"/v1/trades/{trade['id']}/delivered"), 202)
                expect(buyer.http.post(f"/v1/trades/{trade['id']}/confirm"), 202)
            elif spec.outcome == "cancel":
                expect(buyer.http.post(f"/v1/trades/{trade['id']}/cancel"), 202)
                if expect(self.operator.get(f"/v1/trades/{trade['id']}"), 200)["status"] != "FAILED":
                    expect(seller.http.post(f"/v1/trades/{trade['id']}/cancel"), 202)
                say(f"   {spec.ref} cancelled by buyer and seller before confirmation: FAILED, no coins moved")
        self.wait_for_status({s.ref for s in TRADES if s.outcome == "release"}, None, "the gross release")
        self.wait_for_status({s.ref for s in TRADES if s.outcome == "cancel"}, None, "the cancellation")
        net = {s.ref for s in TRADES if s.outcome == "settle"}
        self.wait_for_status(net, ("IN_WINDOW", "SETTLED"), "the net trades to join a window")
        windows = sorted({self.trades[ref]["window_id"] for ref in net})
        say(
            f"   one gross trade released to its seller; nine net trades waiting in window(s) "
            f"{', '.join(f'#{w}' for w in windows)}"
        )

    def close_windows(self) -> None:
        net = [s.ref for s in TRADES if s.outcome == "settle"]
        ids = sorted({int(self.trades[ref]["window_id"]) for ref in net})
        say(
            "\n6. The operator closes the window (POST /v1/windows/{id}/close); the worker settles it: one"
            " SettlementNet.settleWindow\n   transaction debits and credits each broker's net position and records"
            " the Merkle root of the window's trades"
        )
        for window_id in ids:
            window = expect(self.operator.get(f"/v1/windows/{window_id}"), 200)
            if window["status"] == "OPEN":
                expect(self.operator.post(f"/v1/windows/{window_id}/close"), 202)
                say(f"   window #{window_id} closed by the operator")
            else:
                say(f"   window #{window_id} already {window['status']} (its timer closed it)")

        def settled() -> bool:
            for window_id in ids:
                window = expect(self.operator.get(f"/v1/windows/{window_id}"), 200)
                self.windows[window_id] = window
                if window["status"] != "SETTLED":
                    return False
            return True

        wait_until("the windows to settle", settled)
        self.wait_for_status(set(net), "SETTLED", "the net trades to settle")
        for window_id in ids:
            self.print_window(self.windows[window_id])

    def print_window(self, window: dict[str, Any]) -> None:
        trades = [s.ref for s in TRADES if self.trades[s.ref].get("window_id") == window["id"]]
        say(
            f"\n   Window #{window['id']}: {window['trade_count']} trades ({', '.join(trades)}), closed at block "
            f"{window['close_block']}, settled in block {window['settlement_block']}\n"
        )
        rows = [
            [self.code_of(p["participant_id"]), coins(p["pays"]), coins(p["receives"]), coins(p["net"])]
            for p in window["positions"]
        ]
        say(indent(table(["broker", "pays (gross)", "receives (gross)", "net"], rows, {1, 2, 3})))
        gross, net = Decimal(window["gross_total"]), Decimal(window["net_total"])
        ratio = Decimal(window["liquidity_saved_ratio"])
        say(
            f"\n   gross {coins(str(gross))} coins would have moved trade by trade; net {coins(str(net))} coins moved:"
            f" liquidity saved {coins(str(gross - net))} coins ({ratio * 100:.2f}%)"
        )
        say(f"   settlement tx {window['settlement_tx_hash']}")
        say(f"   trades root   {window['trades_root']}")

    def prove(self) -> None:
        spec = next(s for s in TRADES if s.outcome == "settle")
        trade = self.trades[spec.ref]
        seller, _ = self.party(spec.seller)
        say(
            f"\n7. {spec.ref}'s inclusion proof, as its seller {seller.spec.code} fetches it"
            f" (GET /v1/trades/{{id}}/proof), checked against the chain"
        )
        proof = expect(seller.http.get(f"/v1/trades/{trade['id']}/proof"), 200)
        self.proof = proof
        path = self.app.service.settings.data_dir / f"proof-{spec.ref}.json"
        path.write_text(json.dumps(proof, indent=2) + "\n")
        parsed = TradeProof.from_json(proof)
        abi = load_artifact("SettlementNet").abi
        check = check_trade_proof(connect(self.devnet.rpc_url), proof["contract"], abi, parsed)
        say(
            f"   leaf: trade {proof['chain_trade_id']}, payer {proof['payer']}, payee {proof['payee']},"
            f" {proof['amount_base_units']} base units; {len(proof['proof'])} sibling hash(es) up to root {proof['root']}"
        )
        say(
            f"   {'INCLUDED' if check.ok else 'NOT PROVEN'}: window settled on chain: {check.window_settled}, root"
            f" matches the chain's: {check.root_matches}, proof leads to the root: {check.proof_leads_to_root},"
            f" SettlementNet.verifyTrade: {check.contract_says_included}"
        )
        forged = TradeProof(
            parsed.window_id,
            replace(parsed.leaf, amount_base_units=parsed.leaf.amount_base_units + 1),
            parsed.siblings,
            parsed.root,
        )
        forged_check = check_trade_proof(connect(self.devnet.rpc_url), proof["contract"], abi, forged)
        say(
            f"   the same proof with the amount one base unit higher: {'INCLUDED' if forged_check.ok else 'NOT PROVEN'}"
        )
        say(
            "   a counterparty checks it with nothing but the JSON, an RPC endpoint and the contract's address:\n"
            f"   .venv/bin/python -m settlement verify-proof {path} --rpc-url {self.devnet.rpc_url}"
            f" --contract {proof['contract']}"
        )
        self.proof_checked = check.ok and not forged_check.ok
        if not self.proof_checked:
            raise DemoFailed(f"{spec.ref}'s proof did not check out against the chain")

    def expire(self) -> None:
        spec = next(s for s in TRADES if s.outcome == "expire")
        say(
            f"\n8. {spec.ref} (gross): delivery never confirmed; the chain's clock moves {CLOCK_JUMP_S} s past its deadline"
        )
        self.devnet.increase_time(CLOCK_JUMP_S)
        self.wait_for_status({spec.ref}, "REFUNDED", "the sweep of the expired lock")
        say("   the worker swept the expired lock: refunded to the buyer")

    def wait_for_status(self, refs: set[str], status: str | tuple[str, ...] | None, what: str) -> None:
        """Poll until each trade reaches `status` (one of them, if a tuple), or its planned final status when None."""

        def targets(ref: str) -> tuple[str, ...]:
            if status is None:
                return (EXPECTED[next(s.outcome for s in TRADES if s.ref == ref)],)
            return (status,) if isinstance(status, str) else status

        wanted = {ref: targets(ref) for ref in refs}

        def arrived() -> bool:
            for ref, target in wanted.items():
                trade = expect(self.operator.get(f"/v1/trades/{self.trades[ref]['id']}"), 200)
                self.trades[ref] = trade
                if trade["status"] == "FAILED" and "FAILED" not in target:
                    raise DemoFailed(f"{ref} failed: {trade['error_code']}: {trade['error_detail']}")
                if trade["status"] not in target:
                    return False
            return True

        wait_until(what, arrived)

    # ------------------------------------------------------------------------------ summary

    def report(self) -> bool:
        recon = expect(self.operator.get("/v1/reconciliation"), 200)  # indexes to the head first
        expect(self.operator.post("/v1/audit/anchors"), 200)  # the day's journal head, anchored on chain
        audit = expect(self.operator.get("/v1/audit/verify"), 200)
        say("\n" + "=" * 100 + "\nTrades\n")
        rows = []
        for spec in TRADES:
            t = self.trades[spec.ref]
            window = self.windows.get(t["window_id"]) if t.get("window_id") is not None else None
            final_tx = (window or {}).get("settlement_tx_hash") or (
                t["release_tx_hash"] or t["refund_tx_hash"] or t["lock_tx_hash"]
            )
            rows.append(
                [
                    spec.ref,
                    f"{self.party(spec.buyer)[0].spec.code} <- {self.party(spec.seller)[0].spec.code}",
                    spec.instrument,
                    f"{spec.quantity} @ {spec.price} {spec.currency}",
                    coins(t["settlement_amount"]),
                    t.get("settlement_mode") or "-",
                    "-" if t.get("window_id") is None else f"#{t['window_id']}",
                    t["status"],
                    final_tx or "-",
                ]
            )
        say(
            table(
                [
                    "ref",
                    "buyer<-seller",
                    "instrument",
                    "quantity @ price",
                    "coins",
                    "mode",
                    "window",
                    "status",
                    "last tx (full hash)",
                ],
                rows,
                {4},
            )
        )

        say("\nBalances (coins): on chain vs ledger\n")
        rows = []
        balanced_settlement = True
        for broker in self.brokers.values():
            b = expect(broker.http.get(f"/v1/participants/{broker.id}/balances"), 200)
            match = "ok" if b["on_chain"] == b["ledger"] else "MISMATCH"
            rows.append(
                [
                    broker.spec.code,
                    "omnibus wallet",
                    coins(b["on_chain"]),
                    coins(b["ledger"]),
                    match,
                    coins(b["locked_as_payer"]),
                ]
            )
            rows.append(["", "  unallocated", "", coins(b["unallocated"]), "", ""])
            rows.extend(["", f"  {c['name']}", "", coins(c["balance"]), "", ""] for c in b["clients"])
            on_chain, ledger = b["settlement_balance_on_chain"], b["settlement_balance_ledger"]
            settlement_match = Decimal(on_chain) == Decimal(ledger)
            balanced_settlement = balanced_settlement and settlement_match
            rows.append(
                [
                    "",
                    "settlement balance (net)",
                    coins(on_chain),
                    coins(ledger),
                    "ok" if settlement_match else "MISMATCH",
                    "",
                ]
            )
        say(table(["broker", "account", "on chain", "ledger", "", "in escrow"], rows, {2, 3, 5}))

        say(f"\nReconciliation at block {recon['block_number']}: {'BALANCED' if recon['balanced'] else 'BREAKS'}")
        for brk in recon["breaks"]:
            say(f"   break: {brk}")
        say(
            f"Audit chain: {'verified' if audit['ok'] else 'BROKEN'}, {audit['entries']} entries, "
            f"head {audit['head_hash']}"
        )
        anchor = audit["latest_anchor"]
        if anchor is not None:
            say(
                f"On-chain anchor #{anchor['index']} (LedgerAnchor, signed by the anchoring key, not the agent's): "
                f"journal seq {anchor['sequence']}, hash {anchor['head_hash']}; {audit['anchors_checked']} "
                "anchor(s) checked against the journal (net mode anchors the journal at every window close too)"
            )
        for problem in audit["problems"]:
            say(f"   seq {problem['seq']}: {problem['problem']}")
        wrong = [s.ref for s in TRADES if self.trades[s.ref]["status"] != EXPECTED[s.outcome]]
        if wrong:
            say(f"Trades not in their planned final state: {', '.join(wrong)}")
        unsettled = [f"#{w['id']}" for w in self.windows.values() if w["status"] != "SETTLED"]
        if unsettled or not self.windows:
            say(f"Windows not settled: {', '.join(unsettled) or 'none seen'}")
        return (
            bool(recon["balanced"])
            and bool(audit["ok"])
            and not wrong
            and bool(self.windows)
            and not unsettled
            and balanced_settlement
            and self.proof_checked
        )


def indent(text: str, prefix: str = "   ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


# ---------------------------------------------------------------------------------- process


def fresh_demo_database(data_dir: Path) -> Path:
    """The demo's one ledger file, emptied: each run has a fresh chain, so yesterday's ledger would
    mirror a chain that is gone. Files earlier versions left (demo-<time>-<pid>.db) are removed."""
    data_dir.mkdir(parents=True, exist_ok=True)
    leftovers = sorted(data_dir.glob("demo-*.db"))
    for path in leftovers:
        path.unlink(missing_ok=True)
    if leftovers:
        say(f"Removed {len(leftovers)} database file(s) of earlier demo runs from {data_dir}.")
    db_path = data_dir / DEMO_DATABASE
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    return db_path


@contextlib.contextmanager
def fresh_devnet(settings: Settings, manifest_dir: Path | None = None) -> Iterator[Devnet]:
    """A throwaway anvil on a free port, in its own session so Ctrl-C reaches only us: we stop it
    after the API and the worker, instead of it vanishing under them."""
    config = AnvilConfig(
        host=settings.anvil_host,
        port=free_port(settings.anvil_host),
        chain_id=settings.chain_id,
        mnemonic=settings.devnet_mnemonic,
    )
    anvil = AnvilProcess(config, detached=True).start()
    try:
        manifest = deploy(anvil.rpc_url, settings.devnet_mnemonic)
        if manifest_dir is not None:  # apart from devnet/deployments: the persistent devnet's stays as it is
            manifest.save(manifest_dir / f"{manifest.chain_id}.json")
        yield Devnet(anvil=anvil, manifest=manifest, w3=connect(anvil.rpc_url))
    finally:
        anvil.stop()


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _serve_day(app: SettlementApp, devnet: Devnet, db_path: Path, manifest_dir: Path, stay: bool) -> int:
    manifest = devnet.manifest
    say(f"anvil {devnet.rpc_url} (chain id {manifest.chain_id}); API {app.base_url}; ledger database {db_path}")
    say(f"token  {manifest.token.address}\nescrow {manifest.escrow.address}")
    if manifest.net is not None:
        say(f"net settlement (SettlementNet) {manifest.net.address}")
    say(f"manifest {manifest_dir / f'{manifest.chain_id}.json'} (addresses, ABIs, accounts); to inspect the chain:")
    say(
        f"   SETTLEMENT_ANVIL_PORT={devnet.anvil.config.port} SETTLEMENT_DEPLOYMENTS_DIR={manifest_dir} "
        ".venv/bin/python -m settlement.devnet status"
    )
    say(f"   {CAST} call {manifest.token.address} 'totalSupply()(uint256)' --rpc-url {devnet.rpc_url}\n")
    day = Day(app, devnet)
    try:
        ok = day.run()
    except DemoFailed as exc:
        say(f"\ndemo failed: {exc}")
        return 1
    say("\n" + ("The day settled, reconciled and verified." if ok else "THE DAY DID NOT RECONCILE OR VERIFY."))
    if not ok:
        return 1
    if not stay:
        return 0
    say(f"\nDashboard: {app.base_url}/  (sign in with a key below)   API docs: {app.base_url}/docs")
    for window_id in sorted(day.windows):
        say(f"Window #{window_id}: {app.base_url}/#/window/{window_id}")
    say(f"Operator key: {app.operator_key}")
    for broker in day.brokers.values():
        say(f"{broker.spec.code} API key: {broker.api_key}")
    say("Serving until Ctrl-C (DEMO_EXIT=1 skips this).")
    while True:
        time.sleep(3600)


def window_overrides() -> dict[str, Any]:
    """The demo's window length, unless SETTLEMENT_WINDOW_LENGTH_S says otherwise."""
    return {} if "SETTLEMENT_WINDOW_LENGTH_S" in os.environ else {"window_length_s": DEMO_WINDOW_LENGTH_S}


def main() -> int:
    settings = get_settings()
    signal.signal(signal.SIGTERM, _terminate)
    stay = os.environ.get("DEMO_EXIT", "") not in ("1", "true", "yes")
    port = settings.api_port
    if port == 0:  # any free port: pick it now, so the dashboard's URL can be printed first
        port = free_port(settings.api_host)
    elif port_in_use(settings.api_host, port):
        port = free_port(settings.api_host)
        say(f"Port {settings.api_port} is taken; serving on {port} instead.")
    say(f"Dashboard: http://{settings.api_host}:{port}/  (operator key: {settings.operator_key})")
    db_path = fresh_demo_database(settings.data_dir)
    manifest_dir = settings.data_dir / DEMO_DEPLOYMENTS
    try:
        say("Starting a fresh devnet (anvil + contracts), the settlement worker and the API...")
        with (
            fresh_devnet(settings, manifest_dir) as devnet,
            running_app(
                devnet.manifest,
                devnet.rpc_url,
                settings.data_dir,
                host=settings.api_host,
                port=port,
                operator_key=settings.operator_key,
                database_url=f"sqlite:///{db_path}",
                sweep_interval_s=0.5,
                **window_overrides(),
            ) as app,
        ):
            try:
                return _serve_day(app, devnet, db_path, manifest_dir, stay)
            except KeyboardInterrupt:
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
                say("\nStopping the API, the worker and anvil...")
                return 0 if stay else 130
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        say("\nInterrupted.")
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":
    sys.exit(main())
