"""Helpers for the chain integration tests: parties with their own senders, call builders, and
snapshots of the on-chain state that a test compares before and after an action.

Everything here talks to the real anvil through web3.py; nothing is mocked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3.types import TxReceipt

from settlement.chain.client import ChainClient, OnChainLock
from settlement.chain.contract_calls import LockOrder
from settlement.chain.lock_intents import lock_intent_typed_data, sign_lock_intent
from settlement.chain.reverts import RevertDecoder
from settlement.chain.sender import Call, MemoryTxJournal, TxRecord, TxSender
from settlement.devnet.deploy import TOKEN_NAME
from settlement.testing.devnet import Devnet

COIN = 10**6  # base units per coin (6 decimals)
BROKER_FUNDING = 1_000_000 * COIN
ONE_HOUR = 3_600
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"

PERMIT_TYPES: dict[str, list[dict[str, str]]] = {
    "Permit": [
        {"name": "owner", "type": "address"},
        {"name": "spender", "type": "address"},
        {"name": "value", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ]
}


def trade_id(label: str) -> bytes:
    return keccak(text=f"trade:{label}")


def eip712_digest(message: SignableMessage) -> bytes:
    """The 32 bytes an EIP-712 signer signs: keccak(0x19 || version || domain separator || struct hash)."""
    return keccak(b"\x19" + message.version + message.header + message.body)


class CountingSender(TxSender):
    """A TxSender that remembers every broadcast (through the _on_sent hook)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.broadcasts: list[str] = []
        super().__init__(*args, **kwargs)

    def _on_sent(self, record: TxRecord) -> None:
        self.broadcasts.append(record.tx_hash)


@dataclass
class Party:
    """An account plus the sender (and journal) it signs with."""

    name: str
    account: LocalAccount
    sender: CountingSender
    journal: MemoryTxJournal

    @property
    def address(self) -> str:
        return str(self.account.address)


@dataclass(frozen=True)
class Permit:
    value: int
    deadline: int
    v: int
    r: bytes
    s: bytes


@dataclass(frozen=True)
class ChainState:
    """What a test reads back from the chain to compare before/after."""

    balances: dict[str, int]
    total_supply: int
    total_locked: int
    escrow_balance: int
    allowances: dict[str, int]
    permit_nonces: dict[str, int]
    tx_counts: dict[str, int]
    locks: dict[bytes, OnChainLock] = field(default_factory=dict)


@dataclass
class Env:
    """The deployed devnet seen from a test: chain reads plus agent, payer, payee, stranger, admin."""

    net: Devnet
    chain: ChainClient
    decoder: RevertDecoder
    agent: Party
    payer: Party
    payee: Party
    other_payer: Party
    stranger: Party
    admin: Party

    @classmethod
    def build(cls, net: Devnet) -> Env:
        manifest = net.manifest
        decoder = RevertDecoder(manifest.token.abi, manifest.escrow.abi)

        def party(name: str, private_key: str | None) -> Party:
            assert private_key is not None, f"manifest has no key for {name}"
            account: LocalAccount = Account.from_key(private_key)
            journal = MemoryTxJournal()
            return Party(name, account, CountingSender(net.w3, account, journal, decoder), journal)

        return cls(
            net=net,
            chain=net.chain(),
            decoder=decoder,
            agent=party("agent", manifest.agent.private_key),
            payer=party("payer", manifest.brokers[0].private_key),
            payee=party("payee", manifest.brokers[1].private_key),
            other_payer=party("other_payer", manifest.brokers[2].private_key),
            stranger=party("stranger", manifest.spare_accounts[0].private_key),
            admin=party("admin", manifest.deployer.private_key),
        )

    @property
    def escrow_address(self) -> str:
        return str(self.chain.escrow.address)

    @property
    def token_address(self) -> str:
        return str(self.chain.token.address)

    def parties(self) -> list[Party]:
        return [self.agent, self.payer, self.payee, self.other_payer, self.stranger, self.admin]

    def fresh_sender(self, party: Party, journal: MemoryTxJournal | None = None, **kwargs: Any) -> CountingSender:
        """A new sender for the same key, e.g. after a simulated restart."""
        return CountingSender(self.net.w3, party.account, journal or MemoryTxJournal(), self.decoder, **kwargs)

    # ------------------------------------------------------------------ time

    def now(self) -> int:
        return self.chain.latest_timestamp()

    def deadline(self, seconds: int = ONE_HOUR) -> int:
        return self.now() + seconds

    # ------------------------------------------------------------------ call builders

    def token_call(self, fn: str, args: list[Any], purpose: str | None = None, gas: int | None = None) -> Call:
        return Call(self.token_address, self.chain.token.encode_abi(fn, args), purpose or f"token.{fn}", gas)

    def escrow_call(self, fn: str, args: list[Any], purpose: str | None = None, gas: int | None = None) -> Call:
        return Call(self.escrow_address, self.chain.escrow.encode_abi(fn, args), purpose or f"escrow.{fn}", gas)

    def approve_call(self, amount: int, spender: str | None = None) -> Call:
        return self.token_call("approve", [spender or self.escrow_address, amount])

    # ------------------------------------------------------------------ lock orders (payer-signed intents)

    def party_at(self, address: str) -> Party | None:
        return next((p for p in self.parties() if p.address.lower() == address.lower()), None)

    def order(
        self,
        tid: bytes,
        amount: int,
        deadline: int,
        payer: Party | str | None = None,
        payee: Party | str | None = None,
        *,
        signer: Party | None = None,
        domain: dict[str, Any] | None = None,
    ) -> LockOrder:
        """A lock order with its LockIntent signature, by default the payer's own for these terms.

        `signer` signs instead of the payer (a forgery); `domain` overrides EIP-712 domain fields
        (another escrow, chain, name or version). A payer address that belongs to no party (the
        zero address) and no `signer` leaves the signature empty.
        """
        payer_address = _address(payer or self.payer)
        unsigned = LockOrder(tid, payer_address, _address(payee or self.payee), amount, deadline)
        key_holder = signer or (payer if isinstance(payer, Party) else self.party_at(payer_address))
        if key_holder is None:
            return unsigned
        return replace(unsigned, signature=self.sign_intent(unsigned, key_holder, domain=domain))

    def sign_intent(self, order: LockOrder, signer: Party, *, domain: dict[str, Any] | None = None) -> bytes:
        """`signer`'s 65-byte EIP-712 signature of `order`'s terms, through the production helper
        unless a domain field is overridden (then the same typed data with that domain)."""
        if not domain:
            return sign_lock_intent(self.chain, signer.account, order)
        typed = lock_intent_typed_data(self.chain, order)
        typed["domain"] = {**typed["domain"], **domain}
        return bytes(signer.account.sign_message(encode_typed_data(full_message=typed)).signature)

    def orders(
        self, label: str, count: int, amount: int, deadline: int | None = None, payer: Party | None = None
    ) -> list[LockOrder]:
        """`count` signed orders for trade ids `label-0` .. `label-{count-1}`, one deadline."""
        at = deadline if deadline is not None else self.deadline()
        return [self.order(trade_id(f"{label}-{i}"), amount, at, payer) for i in range(count)]

    def lock_call(self, order: LockOrder, gas: int | None = None) -> Call:
        return self.escrow_call("lock", [order.as_tuple(), order.signature], gas=gas)

    def lock_batch_call(self, orders: Sequence[LockOrder], signatures: Sequence[bytes] | None = None) -> Call:
        """lockBatch of `orders` with their own signatures, or with `signatures` as given."""
        chosen = [o.signature for o in orders] if signatures is None else list(signatures)
        return self.escrow_call("lockBatch", [[o.as_tuple() for o in orders], chosen])

    def release_call(self, tid: bytes, gas: int | None = None) -> Call:
        return self.escrow_call("release", [tid], gas=gas)

    def refund_call(self, tid: bytes, gas: int | None = None) -> Call:
        return self.escrow_call("refund", [tid], gas=gas)

    def lock_with_permit_call(self, order: LockOrder, permit: Permit) -> Call:
        return self.escrow_call(
            "lockWithPermit",
            [order.as_tuple(), order.signature, permit.value, permit.deadline, permit.v, permit.r, permit.s],
        )

    # ------------------------------------------------------------------ actions (each one tx, awaited)

    def approve(self, party: Party, amount: int) -> TxReceipt:
        return party.sender.transact(self.approve_call(amount))

    def lock(
        self,
        tid: bytes,
        amount: int,
        *,
        deadline: int | None = None,
        by: Party | None = None,
        payer: Party | None = None,
        payee: Party | None = None,
        approve: bool = True,
        signer: Party | None = None,
    ) -> TxReceipt:
        """The agent (or `by`) locks `amount` of the payer's coins for `tid` with the payer's signed
        LockIntent (or `signer`'s); the payer approves exactly that amount first."""
        payer = payer or self.payer
        if approve:
            self.approve(payer, amount)
        order = self.order(tid, amount, deadline or self.deadline(), payer, payee, signer=signer)
        return (by or self.agent).sender.transact(self.lock_call(order))

    def release(self, tid: bytes, by: Party | None = None) -> TxReceipt:
        return (by or self.agent).sender.transact(self.release_call(tid))

    def refund(self, tid: bytes, by: Party | None = None) -> TxReceipt:
        return (by or self.agent).sender.transact(self.refund_call(tid))

    def admin_call(self, contract: str, fn: str, args: list[Any] | None = None) -> TxReceipt:
        build = self.token_call if contract == "token" else self.escrow_call
        return self.admin.sender.transact(build(fn, args or []))

    # ------------------------------------------------------------------ permit

    def sign_permit(
        self,
        owner: Party,
        value: int,
        *,
        deadline: int | None = None,
        nonce: int | None = None,
        signer: Party | None = None,
        spender: str | None = None,
    ) -> Permit:
        """An EIP-2612 permit signed off chain; `signer` other than `owner` makes it invalid."""
        permit_deadline = deadline if deadline is not None else self.deadline()
        domain = {
            "name": TOKEN_NAME,
            "version": "1",
            "chainId": self.chain.chain_id,
            "verifyingContract": self.token_address,
        }
        message = {
            "owner": owner.address,
            "spender": spender or self.escrow_address,
            "value": value,
            "nonce": self.chain.permit_nonce(owner.address) if nonce is None else nonce,
            "deadline": permit_deadline,
        }
        signed = Account.sign_typed_data((signer or owner).account.key, domain, PERMIT_TYPES, message)
        return Permit(value, permit_deadline, signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big"))

    # ------------------------------------------------------------------ reads

    def balance(self, who: Party | str) -> int:
        return self.chain.balance_of(who.address if isinstance(who, Party) else who)

    def state(self, *trade_ids: bytes) -> ChainState:
        """Balances, supply, totals, allowances, nonces and the given locks, all read from the chain now.

        One JSON-RPC batch through web3.py, so a consistent view and cheap enough to take twice
        per test case.
        """
        parties = self.parties()
        token, escrow = self.chain.token.functions, self.chain.escrow.functions
        w3 = self.net.w3
        with w3.batch_requests() as batch:
            for p in parties:
                batch.add(token.balanceOf(p.account.address))
                batch.add(token.allowance(p.account.address, self.chain.escrow.address))
                batch.add(token.nonces(p.account.address))
                batch.add(w3.eth.get_transaction_count(p.account.address))
            batch.add(token.balanceOf(self.chain.escrow.address))
            batch.add(token.totalSupply())
            batch.add(escrow.totalLocked())
            for tid in trade_ids:
                batch.add(escrow.getLock(tid))
            results: list[Any] = list(batch.execute())
        per_party = [results[i : i + 4] for i in range(0, 4 * len(parties), 4)]
        rest = results[4 * len(parties) :]
        return ChainState(
            balances={p.name: int(r[0]) for p, r in zip(parties, per_party, strict=True)},
            allowances={p.name: int(r[1]) for p, r in zip(parties, per_party, strict=True)},
            permit_nonces={p.name: int(r[2]) for p, r in zip(parties, per_party, strict=True)},
            tx_counts={p.name: int(r[3]) for p, r in zip(parties, per_party, strict=True)},
            escrow_balance=int(rest[0]),
            total_supply=int(rest[1]),
            total_locked=int(rest[2]),
            locks={
                tid: OnChainLock.from_raw(raw, self.chain.lock_statuses)
                for tid, raw in zip(trade_ids, rest[3:], strict=True)
            },
        )


def _address(who: Party | str) -> str:
    return who.address if isinstance(who, Party) else who
