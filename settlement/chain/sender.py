"""Signs and sends transactions for one signer, with a nonce journal that survives restarts.

Why a journal: a settlement service must never pay twice. Each transaction is signed and its
hash recorded *before* it is sent, so after a crash we can ask the chain what happened to that
exact hash (mined, still pending, or dropped) and rebroadcast the same bytes instead of signing
a second, different transaction for the same purpose.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.datastructures import AttributeDict
from web3.exceptions import ContractLogicError, ProviderConnectionError
from web3.types import RPCEndpoint, TxParams, TxReceipt

from settlement import errors
from settlement.chain.reverts import RevertDecoder
from settlement.redaction import describe_error, redact_text

log = logging.getLogger(__name__)

FEE_REFRESH_S = 2.0
GAS_HEADROOM_PCT = 20
# A tx still without a receipt after this long is sent again (same bytes) if the chain has not
# consumed its nonce: a faulty RPC may have dropped it, and waiting would only time out.
RESEND_AFTER_S = 1.0
# How many journaled transactions one follow_chain() call re-sends at most (the rest next call).
FOLLOW_RECORDS_MAX = 256
GAP_FILLER_GAS = 21_000
GAP_FILLER_PURPOSE = "nonce gap filler"


@dataclass
class TxRecord:
    """A signed transaction as remembered by the journal."""

    chain_id: int
    sender: str
    nonce: int
    tx_hash: str
    raw_tx: str
    purpose: str
    status: str = "signed"  # signed -> sent -> mined | reverted | dropped
    block_number: int | None = None


class TxJournal(Protocol):
    """Where signed transactions are recorded before they leave the process."""

    def last_nonce(self, chain_id: int, sender: str) -> int | None: ...
    def record_signed(self, record: TxRecord) -> None: ...
    def mark(self, tx_hash: str, status: str, block_number: int | None = None) -> None: ...
    def unfinished(self, chain_id: int, sender: str) -> list[TxRecord]: ...
    def from_nonce(self, chain_id: int, sender: str, nonce: int, limit: int) -> list[TxRecord]:
        """Records with this nonce or a higher one, any status, lowest nonce first (at most `limit`)."""
        ...


@dataclass
class MemoryTxJournal:
    """For tools and tests that need no crash safety (deploy scripts, one-off admin calls)."""

    records: dict[str, TxRecord] = field(default_factory=dict)

    def last_nonce(self, chain_id: int, sender: str) -> int | None:
        nonces = [r.nonce for r in self.records.values() if r.chain_id == chain_id and r.sender == sender]
        return max(nonces) if nonces else None

    def record_signed(self, record: TxRecord) -> None:
        self.records[record.tx_hash] = record

    def mark(self, tx_hash: str, status: str, block_number: int | None = None) -> None:
        self.records[tx_hash].status = status
        self.records[tx_hash].block_number = block_number

    def unfinished(self, chain_id: int, sender: str) -> list[TxRecord]:
        return [
            r
            for r in self.records.values()
            if r.chain_id == chain_id and r.sender == sender and r.status in ("signed", "sent")
        ]

    def from_nonce(self, chain_id: int, sender: str, nonce: int, limit: int) -> list[TxRecord]:
        found = [r for r in self.records.values() if r.chain_id == chain_id and r.sender == sender and r.nonce >= nonce]
        return sorted(found, key=lambda r: r.nonce)[:limit]


@dataclass(frozen=True)
class Call:
    """One contract call to make: target, calldata and what it is for (kept in the journal)."""

    to: str | None  # None creates a contract
    data: str
    purpose: str
    gas: int | None = None


def raw_receipt(raw: dict[str, Any]) -> TxReceipt:
    """A JSON-RPC receipt with the fields callers read as web3 gives them (ints, HexBytes,
    checksummed addresses); the logs stay as the node sent them."""

    def address(value: object) -> str | None:
        return None if value is None else Web3.to_checksum_address(str(value))

    return cast(
        TxReceipt,
        AttributeDict(
            {
                **raw,
                "blockNumber": int(raw["blockNumber"], 16),
                "blockHash": HexBytes(raw["blockHash"]),
                "transactionHash": HexBytes(raw["transactionHash"]),
                "status": int(raw["status"], 16),
                "gasUsed": int(raw["gasUsed"], 16),
                "from": address(raw.get("from")),
                "to": address(raw.get("to")),
                "contractAddress": address(raw.get("contractAddress")),
            }
        ),
    )


@dataclass
class Outcome:
    """Result of one Call in a pipelined submission: a receipt or the domain error."""

    call: Call
    record: TxRecord | None = None
    receipt: TxReceipt | None = None
    error: errors.SettlementError | None = None


# What nodes answer when they already hold or have mined a transaction (geth, anvil, reth).
ALREADY_SENT_MESSAGES = ("already known", "already imported", "nonce too low")

T = TypeVar("T")


def chain_read(what: str, read: Callable[[], T]) -> T:
    """Run a chain read; any transport failure becomes ChainUnavailable, a domain error every
    caller handles (a raw requests.ConnectionError once escaped a cycle and stranded a lock)."""
    try:
        return read()
    except errors.SettlementError:
        raise
    except Exception as exc:
        raise errors.ChainUnavailable(f"{what} failed: {type(exc).__name__}") from exc


class TxSender:
    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        journal: TxJournal,
        decoder: RevertDecoder,
        *,
        poll_s: float = 0.005,
        timeout_s: float = 60.0,
        confirmation_depth: int = 0,
        in_flight_txs_max: int = 32,
        resend_after_s: float = RESEND_AFTER_S,
    ) -> None:
        self.w3 = w3
        self.account = account
        self.address = account.address
        self.journal = journal
        self.decoder = decoder
        self.chain_id = int(chain_read("chain id read", lambda: w3.eth.chain_id))
        self.poll_s = poll_s
        self.timeout_s = timeout_s
        self.resend_after_s = resend_after_s
        self.confirmation_depth = confirmation_depth
        self.in_flight_txs_max = in_flight_txs_max
        self._lock = threading.RLock()
        self._fees: tuple[float, int, int] | None = None
        self._next_nonce = self._initial_nonce()

    # ----------------------------------------------------------------- nonce and fees

    def _initial_nonce(self) -> int:
        on_chain = int(chain_read("nonce read", lambda: self.w3.eth.get_transaction_count(self.address, "pending")))
        journal_last = self.journal.last_nonce(self.chain_id, self.address)
        return max(on_chain, -1 if journal_last is None else journal_last + 1)

    def resync_nonce(self) -> None:
        """Re-read the nonce from chain and journal: needed after a chain revert (evm_revert)."""
        with self._lock:
            self._next_nonce = self._initial_nonce()

    def _fee_fields(self) -> tuple[int, int]:
        now = time.monotonic()
        if self._fees is None or now - self._fees[0] > FEE_REFRESH_S:
            latest = chain_read("fee read", lambda: self.w3.eth.get_block("latest"))
            base_fee = int(latest.get("baseFeePerGas", 0) or 0)
            tip = int(chain_read("fee read", lambda: self.w3.eth.max_priority_fee))
            self._fees = (now, 2 * base_fee + tip, tip)
        return self._fees[1], self._fees[2]

    # ----------------------------------------------------------------- sign, send, wait

    def estimate(self, call: Call) -> int:
        """Estimate gas; a revert here is decoded into a domain error and nothing is signed."""
        try:
            params: TxParams = {"from": self.address, "data": HexBytes(call.data)}
            if call.to is not None:
                params["to"] = Web3.to_checksum_address(call.to)
            gas = int(self.w3.eth.estimate_gas(params))
        except Exception as exc:
            decoded = self.decoder.decode_exception(exc)
            if decoded is not None:
                raise decoded from exc
            raise errors.ChainUnavailable(f"gas estimation failed: {describe_error(exc)}") from exc
        return gas + gas * GAS_HEADROOM_PCT // 100

    def sign(self, call: Call) -> TxRecord:
        gas = call.gas or self.estimate(call)
        with self._lock:
            max_fee, tip = self._fee_fields()
            tx: dict[str, Any] = {
                "chainId": self.chain_id,
                "nonce": self._next_nonce,
                "data": HexBytes(call.data),
                "value": 0,
                "gas": gas,
                "maxFeePerGas": max_fee,
                "maxPriorityFeePerGas": tip,
                "type": 2,
            }
            if call.to is not None:
                tx["to"] = Web3.to_checksum_address(call.to)
            signed = self.account.sign_transaction(tx)
            record = TxRecord(
                chain_id=self.chain_id,
                sender=self.address,
                nonce=self._next_nonce,
                tx_hash=signed.hash.to_0x_hex(),
                raw_tx=signed.raw_transaction.to_0x_hex(),
                purpose=call.purpose,
            )
            self._on_signed(record)
            self.journal.record_signed(record)
            self._next_nonce += 1
        return record

    def send(self, record: TxRecord) -> None:
        """Broadcast; a node that already has the tx (or has mined its nonce) is not an error:
        whether it was ours is settled by its receipt, never by sending something else."""
        try:  # raw JSON-RPC: web3's request formatting costs more than the send itself
            response = self.w3.provider.make_request(RPCEndpoint("eth_sendRawTransaction"), [record.raw_tx])
        except Exception as exc:  # requests' ConnectionError, timeouts, a node restarting ...
            raise errors.ChainUnavailable(f"send failed for {record.purpose}: {describe_error(exc)}") from exc
        error = response.get("error")
        if error is not None:
            message = str(error.get("message", error) if isinstance(error, dict) else error)
            if not any(known in message.lower() for known in ALREADY_SENT_MESSAGES):
                raise errors.ChainUnavailable(f"send failed for {record.purpose}: {redact_text(message)}")
        self.journal.mark(record.tx_hash, "sent")
        self._on_sent(record)

    def wait(self, record: TxRecord) -> TxReceipt:
        """Wait for the receipt (and confirmation depth); raise the decoded error on revert."""
        started = time.monotonic()
        deadline, resend_at = started + self.timeout_s, started + self.resend_after_s
        while True:
            try:  # a dropped poll is not an outcome: keep asking until the deadline
                receipt = self._receipt_or_none(record.tx_hash)
                if receipt is not None and self._is_deep_enough(int(receipt["blockNumber"])):
                    break
                if receipt is None and time.monotonic() >= resend_at:
                    # Never reached the chain (a send lost before forwarding) or dropped by a reorg:
                    # send it, and whatever of ours precedes it, again rather than time out.
                    resend_at = time.monotonic() + self.resend_after_s
                    self._resend_unmined(up_to_nonce=record.nonce)
            except errors.ChainUnavailable:
                receipt = None
            if time.monotonic() > deadline:
                raise errors.ChainUnavailable(f"no receipt for {record.tx_hash} after {self.timeout_s}s")
            time.sleep(self.poll_s)
        block = int(receipt["blockNumber"])
        if receipt["status"] != 1:
            self.journal.mark(record.tx_hash, "reverted", block)
            raise self._replay_revert(record, block)
        self.journal.mark(record.tx_hash, "mined", block)
        return receipt

    def transact(self, call: Call) -> TxReceipt:
        record = self.sign(call)
        self.send(record)
        return self.wait(record)

    def submit_many(self, calls: Sequence[Call], on_outcome: Callable[[Outcome], None] | None = None) -> list[Outcome]:
        """Send calls without waiting on each, keeping at most in_flight_txs_max unconfirmed;
        each outcome is handed to `on_outcome` in the calls' order.

        Why: waiting for every receipt caps throughput at one tx per poll; anvil on the other
        hand misbehaves with thousands pending, so the window is bounded. Signing and sending run
        on a thread of their own: a node that mines as it accepts (anvil's automine) answers a
        send once the block is mined, and meanwhile this thread handles the earlier receipts, so
        the chain and the ledger work side by side rather than in turn.
        """
        outcomes = [Outcome(call=call) for call in calls]
        if not outcomes:
            return outcomes
        sent = [threading.Event() for _ in outcomes]
        window = threading.Semaphore(self.in_flight_txs_max)
        stop = threading.Event()
        failure: list[BaseException] = []

        def sign_and_send() -> None:
            for outcome, done in zip(outcomes, sent, strict=True):
                window.acquire()
                if stop.is_set():
                    return
                try:
                    outcome.record = self.sign(outcome.call)
                    self.send(outcome.record)
                except errors.SettlementError as exc:
                    outcome.error = exc
                except BaseException as exc:  # a bug or the database: the caller's thread raises it
                    failure.append(exc)
                    done.set()
                    return
                done.set()

        sender = threading.Thread(target=sign_and_send, name="tx-sender", daemon=True)
        sender.start()
        try:
            for outcome, done in zip(outcomes, sent, strict=True):
                done.wait()
                if failure:
                    raise failure[0]
                if outcome.error is None:
                    assert outcome.record is not None
                    try:
                        outcome.receipt = self.wait(outcome.record)
                    except errors.SettlementError as exc:
                        outcome.error = exc
                if on_outcome:
                    on_outcome(outcome)
                window.release()
        finally:
            stop.set()
            window.release()  # a sender waiting for room wakes, sees stop and ends
            sender.join()
        return outcomes

    # ----------------------------------------------------------------- crash recovery

    def recover(self) -> list[TxRecord]:
        """Settle every journaled tx that has no known outcome; return them updated.

        A mined hash is marked mined; a hash whose nonce has been consumed by something else
        is marked dropped; anything else is rebroadcast byte for byte (same hash, so it can
        never execute twice) and waited for.
        """
        settled: list[TxRecord] = []
        chain_nonce = int(chain_read("nonce read", lambda: self.w3.eth.get_transaction_count(self.address, "latest")))
        for record in sorted(self.journal.unfinished(self.chain_id, self.address), key=lambda r: r.nonce):
            receipt = self._receipt_or_none(record.tx_hash)
            if receipt is None and record.nonce < chain_nonce:
                self.journal.mark(record.tx_hash, "dropped")
                record.status = "dropped"
            else:
                if receipt is None:
                    self.send(record)
                try:
                    receipt = self.wait(record)
                    record.status, record.block_number = "mined", int(receipt["blockNumber"])
                except errors.ChainUnavailable:
                    raise  # no receipt (yet) is not a revert: the record stays open for the next recover
                except errors.SettlementError:
                    record.status = "reverted"
            settled.append(record)
        settled_hashes = {r.tx_hash for r in settled}
        settled += [r for r in self.follow_chain() if r.tx_hash not in settled_hashes]
        self.resync_nonce()
        return settled

    def follow_chain(self, *, wait: bool = True, chain_nonce: int | None = None) -> list[TxRecord]:
        """Make the chain hold every transaction the journal holds; return the ones sent again.

        Why: after a reorg (or evm_revert) a transaction journaled as mined may be gone, and one
        journaled as sent may never have reached any node. Skipping its nonce would leave a gap
        the chain never fills: every later transaction of this signer would wait out its timeout.
        So each of ours at or above the chain's nonce is sent again byte for byte (same nonce,
        same hash: it can only ever execute once) and, with `wait`, waited for (without, its
        outcome is settled by the next wait() or recover()). Costs one nonce read when the chain
        is level with the journal, which is the usual case: call it once per cycle. `chain_nonce`:
        the nonce already read (Custody reads every signer's in one round trip).
        """
        resent = self._resend_unmined(up_to_nonce=None, chain_nonce=chain_nonce)
        if not wait:
            return resent
        for record in resent:
            try:
                receipt = self.wait(record)
                record.status, record.block_number = "mined", int(receipt["blockNumber"])
            except errors.ChainUnavailable:
                raise  # still no receipt: it stays open for the next call
            except errors.SettlementError:
                record.status = "reverted"
        return resent

    def _resend_unmined(self, up_to_nonce: int | None, chain_nonce: int | None = None) -> list[TxRecord]:
        """Send again every journaled tx of ours the chain has not consumed the nonce of (up to
        `up_to_nonce`), filling a nonce only a dropped tx of ours held with a no-op."""
        if chain_nonce is None:
            chain_nonce = int(
                chain_read("nonce read", lambda: self.w3.eth.get_transaction_count(self.address, "latest"))
            )
        with self._lock:
            if chain_nonce >= self._next_nonce:
                self._next_nonce = chain_nonce  # the key was used elsewhere too: never sign below the chain
                return []
            records = self.journal.from_nonce(self.chain_id, self.address, chain_nonce, FOLLOW_RECORDS_MAX)
            if up_to_nonce is not None:
                records = [r for r in records if r.nonce <= up_to_nonce]
            by_nonce: dict[int, list[TxRecord]] = {}
            for record in records:
                by_nonce.setdefault(record.nonce, []).append(record)
            to_send: list[TxRecord] = []
            for nonce in sorted(by_nonce):
                live = [r for r in by_nonce[nonce] if r.status != "dropped"]
                # A dropped tx of ours is never sent again (its purpose may have been re-sent as
                # another tx); if nothing else of ours holds the nonce, a no-op fills it.
                to_send += live or [self._sign_gap_filler(nonce)]
        for record in to_send:
            log.warning("re-sending %s (nonce %d, %s): not on chain", record.tx_hash, record.nonce, record.purpose)
            self.send(record)
            record.status = "sent"
        return to_send

    def _sign_gap_filler(self, nonce: int) -> TxRecord:
        """A zero-value transfer to ourselves at `nonce`: moves nothing, unblocks the nonces after it."""
        max_fee, tip = self._fee_fields()
        tx: dict[str, Any] = {
            "chainId": self.chain_id,
            "nonce": nonce,
            "to": self.address,
            "value": 0,
            "gas": GAP_FILLER_GAS,
            "maxFeePerGas": max_fee,
            "maxPriorityFeePerGas": tip,
            "type": 2,
        }
        signed = self.account.sign_transaction(tx)
        record = TxRecord(
            chain_id=self.chain_id,
            sender=self.address,
            nonce=nonce,
            tx_hash=signed.hash.to_0x_hex(),
            raw_tx=signed.raw_transaction.to_0x_hex(),
            purpose=GAP_FILLER_PURPOSE,
        )
        self.journal.record_signed(record)
        return record

    # ----------------------------------------------------------------- helpers

    def _receipt_or_none(self, tx_hash: str) -> TxReceipt | None:
        """The receipt by raw JSON-RPC, with only the fields the engine reads converted: web3's
        result formatters cost more than the request (a 50-lock batch's receipt has 150 logs)."""
        try:
            response = self.w3.provider.make_request(RPCEndpoint("eth_getTransactionReceipt"), [tx_hash])
        except Exception as exc:  # requests' ConnectionError, timeouts, a node restarting ...
            raise errors.ChainUnavailable(f"receipt read failed: {type(exc).__name__}") from exc
        if "error" in response:
            raise errors.ChainUnavailable(f"receipt read failed: {redact_text(str(response['error']))}")
        raw = response.get("result")
        return None if raw is None else raw_receipt(raw)

    def _is_deep_enough(self, block_number: int) -> bool:
        if self.confirmation_depth == 0:
            return True
        head = int(chain_read("block number read", lambda: self.w3.eth.block_number))
        return head - block_number >= self.confirmation_depth

    def _replay_revert(self, record: TxRecord, block: int) -> errors.SettlementError:
        """The decoded reason of a mined revert. A transport failure while replaying raises
        ChainUnavailable: the reason is then unknown, and callers treat the outcome as unknown."""
        tx = chain_read("reverted tx read", lambda: self.w3.eth.get_transaction(HexBytes(record.tx_hash)))
        call: dict[str, Any] = {"from": tx["from"], "to": tx["to"], "data": tx["input"], "gas": tx["gas"]}
        # Replay on the state before the block but with the mined block's number and timestamp:
        # a revert that depends on block.timestamp (DeadlinePassed when the deadline ran out
        # between estimate and mining) does not reproduce in block - 1's environment.
        # (Earlier transactions of the same block are still not replayed.)
        timestamp = int(chain_read("block read", lambda: self.w3.eth.get_block(block))["timestamp"])
        mined_in = {"number": hex(block), "time": hex(timestamp)}
        raw_call = {**call, "data": HexBytes(tx["input"]).to_0x_hex(), "gas": hex(int(tx["gas"]))}
        response = chain_read(
            "revert replay",
            lambda: self.w3.provider.make_request("eth_call", [raw_call, hex(block - 1), {}, mined_in]),  # type: ignore[arg-type]
        )
        error = response.get("error")
        if isinstance(error, dict):
            as_exception = ContractLogicError(str(error.get("message", "")), data=error.get("data"))
            decoded = self.decoder.decode_exception(as_exception)
            if decoded is not None:
                return decoded
        try:  # a node without block overrides: replay in block - 1's environment
            self.w3.eth.call(call, block_identifier=block - 1)  # type: ignore[arg-type]
        except Exception as exc:
            decoded = self.decoder.decode_exception(exc)
            if decoded is not None:
                return decoded
            if isinstance(exc, OSError | ProviderConnectionError):  # the transport failed, not the call
                raise errors.ChainUnavailable(f"revert replay failed: {type(exc).__name__}") from exc
        return errors.TransactionFailed(f"{record.purpose} reverted in block {block} ({record.tx_hash})")

    # Hook points; no-ops in production. The crash tests replace them to SIGKILL the process
    # at exactly these moments.
    def _on_signed(self, record: TxRecord) -> None:
        """Called after signing, before the record is persisted."""

    def _on_sent(self, record: TxRecord) -> None:
        """Called after the tx is broadcast, before its receipt is recorded."""
