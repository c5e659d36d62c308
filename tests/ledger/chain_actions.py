"""Drives the devnet's token and escrow the way brokers, the agent and the issuer would, for tests.

Locks are sent by the settlement agent with the payer's EIP-712 LockIntent signature (the
escrow refuses a lock from anyone else, the payer included); the payer only approves.

Senders are created on first use, so a test that starts after a snapshot revert never carries
a stale local nonce (see the TxSender note in settlement/testing/devnet.py).
"""

from __future__ import annotations

from dataclasses import replace

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3.types import TxReceipt

from settlement.chain.contract_calls import LockOrder
from settlement.chain.lock_intents import sign_lock_intent
from settlement.chain.reverts import RevertDecoder
from settlement.chain.sender import Call, MemoryTxJournal, TxSender
from settlement.chain.trade_ids import chain_trade_id
from settlement.manifest import Account as ManifestAccount
from settlement.testing.devnet import Devnet

MAX_ALLOWANCE = 2**256 - 1
LOCK_WINDOW_S = 3_600
# lockBatch with payer signatures: measured ~184k for a batch of one, ~8.9M for a batch of 100.
LOCK_BATCH_BASE_GAS = 100_000
GAS_PER_BATCHED_LOCK = 100_000


class ChainActions:
    def __init__(self, net: Devnet) -> None:
        self.net = net
        self.manifest = net.manifest
        self.chain = net.chain()
        self.decoder = RevertDecoder(self.manifest.token.abi, self.manifest.escrow.abi)
        self.journal = MemoryTxJournal()
        self._senders: dict[str, TxSender] = {}

    def sender(self, who: ManifestAccount) -> TxSender:
        if who.address not in self._senders:
            self._senders[who.address] = TxSender(
                self.net.w3, self._account(who), self.journal, self.decoder, poll_s=0.002
            )
        return self._senders[who.address]

    @staticmethod
    def _account(who: ManifestAccount) -> LocalAccount:
        assert who.private_key is not None, f"{who.address} has no devnet key"
        account: LocalAccount = Account.from_key(who.private_key)
        return account

    def signed_order(self, trade_id: str, payer: ManifestAccount, payee: str, amount: int, deadline: int) -> LockOrder:
        """A lock order carrying the payer's own LockIntent signature of exactly these terms."""
        order = LockOrder(chain_trade_id(trade_id), payer.address, payee, amount, deadline)
        return replace(order, signature=sign_lock_intent(self.chain, self._account(payer), order))

    def _token(self, who: ManifestAccount, fn: str, args: list[object]) -> TxReceipt:
        data = self.chain.token.encode_abi(fn, args)
        return self.sender(who).transact(Call(to=self.manifest.token.address, data=data, purpose=fn))

    def _escrow(self, who: ManifestAccount, fn: str, args: list[object]) -> TxReceipt:
        data = self.chain.escrow.encode_abi(fn, args)
        return self.sender(who).transact(Call(to=self.manifest.escrow.address, data=data, purpose=fn))

    # ------------------------------------------------------------------ token

    def issue(self, to: str, amount: int) -> TxReceipt:
        return self._token(self.manifest.issuer, "issue", [to, amount])

    def redeem(self, amount: int) -> TxReceipt:
        return self._token(self.manifest.issuer, "redeem", [amount])

    def transfer(self, sender: ManifestAccount, to: str, amount: int) -> TxReceipt:
        return self._token(sender, "transfer", [to, amount])

    def approve_escrow(self, owner: ManifestAccount, amount: int = MAX_ALLOWANCE) -> TxReceipt:
        return self._token(owner, "approve", [self.manifest.escrow.address, amount])

    # ------------------------------------------------------------------ escrow

    def lock(
        self, trade_id: str, payer: ManifestAccount, payee: str, amount: int, deadline: int | None = None
    ) -> TxReceipt:
        """The agent locks the payer's coins with the payer's signed LockIntent (the payer must
        have approved the escrow). `deadline` (unix seconds) defaults to LOCK_WINDOW_S from now;
        pass a trade's own deadline where the test compares lock terms with the trade row."""
        at = deadline if deadline is not None else self.chain.latest_timestamp() + LOCK_WINDOW_S
        order = self.signed_order(trade_id, payer, payee, amount, at)
        return self._escrow(self.manifest.agent, "lock", [order.as_tuple(), order.signature])

    def lock_batch_calls(self, payer: ManifestAccount, payee: str, batches: list[list[tuple[str, int]]]) -> None:
        """Many lockBatch calls by the agent, pipelined, gas preset: the quickest way to a lot of
        escrow events. Every order carries the payer's signature."""
        deadline = self.chain.latest_timestamp() + LOCK_WINDOW_S
        calls = []
        for batch in batches:
            orders = [self.signed_order(t, payer, payee, amount, deadline) for t, amount in batch]
            data = self.chain.escrow.encode_abi(
                "lockBatch", [[o.as_tuple() for o in orders], [o.signature for o in orders]]
            )
            calls.append(
                Call(
                    to=self.manifest.escrow.address,
                    data=data,
                    purpose="lockBatch",
                    gas=LOCK_BATCH_BASE_GAS + GAS_PER_BATCHED_LOCK * len(batch),
                )
            )
        failed = [o.error for o in self.sender(self.manifest.agent).submit_many(calls) if o.error is not None]
        assert not failed, failed

    def release(self, trade_id: str) -> TxReceipt:
        return self._escrow(self.manifest.agent, "release", [chain_trade_id(trade_id)])

    def release_batch(self, trade_ids: list[str]) -> TxReceipt:
        return self._escrow(self.manifest.agent, "releaseBatch", [[chain_trade_id(t) for t in trade_ids]])

    def refund(self, trade_id: str) -> TxReceipt:
        return self._escrow(self.manifest.agent, "refund", [chain_trade_id(trade_id)])
