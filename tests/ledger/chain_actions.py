"""Drives the devnet's token and escrow the way brokers, the agent and the issuer would, for tests.

Senders are created on first use, so a test that starts after a snapshot revert never carries
a stale local nonce (see the TxSender note in settlement/testing/devnet.py).
"""

from __future__ import annotations

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3.types import TxReceipt

from settlement.chain.reverts import RevertDecoder
from settlement.chain.sender import Call, MemoryTxJournal, TxSender
from settlement.chain.trade_ids import chain_trade_id
from settlement.manifest import Account as ManifestAccount
from settlement.testing.devnet import Devnet

MAX_ALLOWANCE = 2**256 - 1
LOCK_WINDOW_S = 3_600
GAS_PER_BATCHED_LOCK = 150_000  # measured ~123k-140k per lock


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
            assert who.private_key is not None, f"{who.address} has no devnet key"
            account: LocalAccount = Account.from_key(who.private_key)
            self._senders[who.address] = TxSender(self.net.w3, account, self.journal, self.decoder, poll_s=0.002)
        return self._senders[who.address]

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

    def lock(self, trade_id: str, payer: ManifestAccount, payee: str, amount: int) -> TxReceipt:
        """The payer locks its own coins (it must have approved the escrow)."""
        deadline = self.chain.latest_timestamp() + LOCK_WINDOW_S
        return self._escrow(payer, "lock", [chain_trade_id(trade_id), payer.address, payee, amount, deadline])

    def lock_batch_calls(self, payer: ManifestAccount, payee: str, batches: list[list[tuple[str, int]]]) -> None:
        """Many lockBatch calls pipelined, gas preset: the quickest way to a lot of escrow events."""
        deadline = self.chain.latest_timestamp() + LOCK_WINDOW_S
        calls = [
            Call(
                to=self.manifest.escrow.address,
                data=self.chain.escrow.encode_abi(
                    "lockBatch", [[(chain_trade_id(t), payer.address, payee, amount, deadline) for t, amount in batch]]
                ),
                purpose="lockBatch",
                gas=GAS_PER_BATCHED_LOCK * len(batch),
            )
            for batch in batches
        ]
        failed = [o.error for o in self.sender(payer).submit_many(calls) if o.error is not None]
        assert not failed, failed

    def release(self, trade_id: str) -> TxReceipt:
        return self._escrow(self.manifest.agent, "release", [chain_trade_id(trade_id)])

    def release_batch(self, trade_ids: list[str]) -> TxReceipt:
        return self._escrow(self.manifest.agent, "releaseBatch", [[chain_trade_id(t) for t in trade_ids]])

    def refund(self, trade_id: str) -> TxReceipt:
        return self._escrow(self.manifest.agent, "refund", [chain_trade_id(trade_id)])
