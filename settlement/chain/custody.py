"""Who signs what. The settlement agent always signs locks, releases and refunds.

On the devnet the service may also hold broker keys (from the manifest) to approve the escrow on
their behalf: the custodial path. A broker whose key the service does not hold uses the
non-custodial path: it approves the escrow itself, or hands over an EIP-2612 permit.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from settlement import errors
from settlement.chain.client import ChainClient
from settlement.chain.contract_calls import LockOrder
from settlement.chain.lock_intents import sign_lock_intent
from settlement.chain.reverts import RevertDecoder
from settlement.chain.sender import TxJournal, TxRecord, TxSender
from settlement.config import Settings

log = logging.getLogger(__name__)


class Custody:
    def __init__(
        self,
        chain: ChainClient,
        journal: TxJournal,
        settings: Settings,
        *,
        hold_broker_keys: bool,
        confirmation_depth: int,
    ) -> None:
        self.chain = chain
        self.journal = journal
        self.settings = settings
        self.confirmation_depth = confirmation_depth
        extra_abis = [c.abi for c in (chain.manifest.net, chain.manifest.ledger_anchor) if c is not None]
        self.decoder = RevertDecoder(chain.manifest.token.abi, chain.manifest.escrow.abi, *extra_abis)
        manifest = chain.manifest
        self._keys: dict[str, LocalAccount] = {}
        if hold_broker_keys:
            for account in [*manifest.brokers, *manifest.spare_accounts]:
                if account.private_key:
                    self._keys[account.address.lower()] = Account.from_key(account.private_key)
        self._senders: dict[str, TxSender] = {}
        self._guard = threading.Lock()
        if not manifest.agent.private_key:
            raise ValueError("the manifest has no settlement agent key")
        self.agent = self._make_sender(Account.from_key(manifest.agent.private_key))
        self.issuer: TxSender | None = (
            self._make_sender(Account.from_key(manifest.issuer.private_key)) if manifest.issuer.private_key else None
        )
        # The journal's anchors are signed by a key of their own, never the agent's (LedgerAnchor).
        anchor_key = manifest.anchorer.private_key if manifest.anchorer else None
        self.anchorer: TxSender | None = self._make_sender(Account.from_key(anchor_key)) if anchor_key else None

    def _make_sender(self, account: LocalAccount) -> TxSender:
        return TxSender(
            self.chain.w3,
            account,
            self.journal,
            self.decoder,
            poll_s=self.settings.receipt_poll_s,
            timeout_s=self.settings.receipt_timeout_s,
            confirmation_depth=self.confirmation_depth,
            in_flight_txs_max=self.settings.in_flight_txs_max,
        )

    def holds_key(self, address: str) -> bool:
        return address.lower() in self._keys

    def sign_lock_intent(self, order: LockOrder) -> bytes | None:
        """The payer's lock signature, if the service holds the payer's key (custodial)."""
        key = self._keys.get(order.payer.lower())
        return None if key is None else sign_lock_intent(self.chain, key, order)

    def sender_for(self, address: str) -> TxSender | None:
        """A sender for a broker whose key we hold (custodial), else None."""
        key = self._keys.get(address.lower())
        if key is None:
            return None
        with self._guard:
            if address.lower() not in self._senders:
                self._senders[address.lower()] = self._make_sender(key)
            return self._senders[address.lower()]

    def all_senders(self) -> list[TxSender]:
        senders = [self.agent, *self._senders.values()]
        return senders + [s for s in (self.issuer, self.anchorer) if s is not None]

    def recover(self) -> None:
        """Settle every journaled transaction left unfinished by a crash (see TxSender.recover)."""
        for address, key in self._keys.items():
            if self.journal.unfinished(self.chain.chain_id, key.address):
                self.sender_for(address)
        for sender in self.all_senders():
            sender.recover()

    def _chain_nonces(self, senders: list[TxSender]) -> dict[str, int]:
        """Every signer's nonce on chain in one JSON-RPC batch (a cycle starts with this); empty if
        the batch fails, and each signer then reads its own (and reports its own failure)."""
        batch: list[tuple[Any, Any]] = [("eth_getTransactionCount", [s.address, "latest"]) for s in senders]
        try:
            responses = self.chain.w3.provider.make_batch_request(batch)  # type: ignore[attr-defined]
            by_id = sorted(responses, key=lambda r: int(r["id"]))
            return {s.address: int(str(r["result"]), 16) for s, r in zip(senders, by_id, strict=True)}
        except Exception:  # a transport error, an error entry, a short answer: read one by one
            return {}

    def follow_chain(self) -> list[TxRecord]:
        """Each signer's journal against the chain (see TxSender.follow_chain): a tx a reorg or a
        faulty RPC dropped is sent again, byte for byte. Returns what was sent again.

        Nothing is waited for here (each signer's next wait() or recover() settles what was sent
        again), and only the agent's failure is raised (its next transactions could not be
        mined): a mint or a broker's approval that cannot be re-sent yet is logged and tried
        again next cycle, without holding up every trade's settlement."""
        resent: list[TxRecord] = []
        senders = self.all_senders()
        nonces = self._chain_nonces(senders)
        for sender in senders:
            try:
                resent += sender.follow_chain(wait=False, chain_nonce=nonces.get(sender.address))
            except errors.ChainUnavailable as exc:
                if sender is self.agent:
                    raise
                log.warning("signer %s: journaled txs not on chain yet: %s", sender.address, exc.detail)
        return resent
