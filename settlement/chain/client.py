"""Connection to the chain and typed reads of the token and escrow (no signing here)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, cast

from eth_abi.abi import decode as abi_decode
from eth_typing import BlockIdentifier, ChecksumAddress
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import TransactionNotFound
from web3.types import LogReceipt, RPCEndpoint

from settlement.chain.calldata import CalldataEncoder
from settlement.errors import ChainUnavailable, ManifestMissing
from settlement.manifest import DeploymentManifest
from settlement.redaction import describe_error, redact_text, redact_url

RPC_TIMEOUT_S = 30
LOCK_READS_PER_BATCH_MAX = 500


class LockStatus(StrEnum):
    """SettlementEscrow.Status by member name. The numbering comes from the manifest (the
    compiler's AST), so reordering the Solidity enum cannot silently remap statuses here."""

    NONE = "None"
    LOCKED = "Locked"
    RELEASED = "Released"
    REFUNDED = "Refunded"
    RECOVERED = "Recovered"  # paid out by the timelocked recovery for a lock stranded by blacklisting


@dataclass(frozen=True)
class PreflightState:
    """Everything a trade's acceptance checks on chain, read in one JSON-RPC batch."""

    token_paused: bool
    escrow_paused: bool
    payer_blacklisted: bool
    payee_blacklisted: bool
    payer_balance_base_units: int
    payer_allowance_base_units: int
    latest_timestamp: int


@dataclass(frozen=True)
class OnChainLock:
    payer: str
    deadline: int
    status: LockStatus
    payee: str
    amount_base_units: int

    @classmethod
    def from_raw(cls, raw: tuple[Any, ...], statuses: list[LockStatus]) -> OnChainLock:
        """Decode the escrow's getLock() tuple (payer, deadline, status, payee, amount)."""
        return cls(
            payer=str(raw[0]),
            deadline=int(raw[1]),
            status=statuses[int(raw[2])],
            payee=str(raw[3]),
            amount_base_units=int(raw[4]),
        )


def lock_statuses(manifest: DeploymentManifest) -> list[LockStatus]:
    """The escrow's Status members in on-chain order, as the manifest recorded them."""
    names = manifest.escrow.enums.get("Status")
    if not names:
        raise ManifestMissing(
            "the manifest lacks the escrow's Status enum; redeploy (python -m settlement.devnet reset && up)"
        )
    return [LockStatus(name) for name in names]


def connect(rpc_url: str, timeout_s: float = RPC_TIMEOUT_S) -> Web3:
    """A Web3 over HTTP; raises ChainUnavailable (not a transport traceback) when nobody answers."""
    # chain id is cached: web3's validation middleware would otherwise ask for it on every call,
    # tripling the round trips of a contract read.
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}, cache_allowed_requests=True))
    w3.middleware_onion.remove("ens_name_to_address")
    try:
        w3.eth.chain_id  # noqa: B018 - a cheap call to prove the endpoint answers
    except Exception as exc:
        raise ChainUnavailable(
            f"no EVM JSON-RPC answer at {redact_url(rpc_url)} ({describe_error(exc)})", setting="rpc_url"
        ) from exc
    return w3


def checksum(address: str) -> ChecksumAddress:
    return Web3.to_checksum_address(address)


def _log(raw: dict[str, Any]) -> LogReceipt:
    """A raw JSON-RPC log with the fields the event decoder reads in web3's types."""
    return cast(
        LogReceipt,
        {
            "address": raw["address"],
            # HexBytes of bytes.fromhex: parsing the hex text through HexBytes costs twice as much.
            "topics": [HexBytes(bytes.fromhex(t[2:])) for t in raw["topics"]],
            "data": HexBytes(bytes.fromhex(raw["data"][2:])),
            "blockNumber": int(raw["blockNumber"], 16),
            "blockHash": HexBytes(bytes.fromhex(raw["blockHash"][2:])),
            "transactionHash": HexBytes(bytes.fromhex(raw["transactionHash"][2:])),
            "transactionIndex": int(raw["transactionIndex"], 16),
            "logIndex": int(raw["logIndex"], 16),
            "removed": bool(raw.get("removed", False)),
        },
    )


class ChainClient:
    """Reads of on-chain state that the engine, indexer and reconciler share."""

    def __init__(self, w3: Web3, manifest: DeploymentManifest) -> None:
        self.w3 = w3
        self.manifest = manifest
        self.chain_id = manifest.chain_id
        self.token: Contract = w3.eth.contract(address=checksum(manifest.token.address), abi=manifest.token.abi)
        self.escrow: Contract = w3.eth.contract(address=checksum(manifest.escrow.address), abi=manifest.escrow.abi)
        self.token_calldata = CalldataEncoder(manifest.token.abi)
        self.escrow_calldata = CalldataEncoder(manifest.escrow.abi)
        self.lock_statuses = lock_statuses(manifest)

    @classmethod
    def from_manifest(cls, manifest: DeploymentManifest, rpc_url: str | None = None) -> ChainClient:
        return cls(connect(rpc_url or manifest.rpc_url), manifest)

    def rpc_chain_id(self) -> int:
        """The id the endpoint reports (cached by connect): what is really there, whatever the manifest says."""
        return int(self.w3.eth.chain_id)

    def block_number(self) -> int:
        return int(self.w3.eth.block_number)

    def block_hash(self, number: int) -> str | None:
        """The canonical hash at a height ('0x' + 64 hex), or None if the chain is not that long (any more)."""
        if number < 0:
            return None
        # Raw JSON-RPC: the indexer asks three times a run, and web3's block formatters cost
        # more than the request. Only the hash is read.
        response = self.w3.provider.make_request(RPCEndpoint("eth_getBlockByNumber"), [hex(number), False])
        if "error" in response:
            raise ChainUnavailable(f"eth_getBlockByNumber failed: {redact_text(str(response['error']))}")
        block = response.get("result")
        if not block or not block.get("hash"):
            return None
        return "0x" + str(block["hash"]).removeprefix("0x").lower()

    def receipt_status(self, tx_hash: str) -> int | None:
        """1 mined and succeeded, 0 mined and reverted, None not mined (or unknown to this node)."""
        try:
            receipt = self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except TransactionNotFound:
            return None
        return int(receipt["status"])

    def get_logs(
        self, from_block: int, to_block: int, addresses: Sequence[str], event_topics: Sequence[bytes]
    ) -> list[LogReceipt]:
        """Logs in [from_block, to_block] emitted by any of `addresses` whose topic0 is any of `event_topics`."""
        params = {
            "fromBlock": hex(from_block),
            "toBlock": hex(to_block),
            "address": [checksum(a) for a in addresses],
            "topics": [["0x" + bytes(t).hex() for t in event_topics]],
        }
        # Raw JSON-RPC: web3's log formatters cost several times the request itself, and the
        # indexer reads thousands of logs a cycle. Only what the decoder reads is converted.
        response = self.w3.provider.make_request(RPCEndpoint("eth_getLogs"), [params])
        if "error" in response:
            raise ChainUnavailable(f"eth_getLogs failed: {redact_text(str(response['error']))}")
        return [_log(raw) for raw in response["result"]]

    def balance_of(self, address: str, block: BlockIdentifier = "latest") -> int:
        return int(self.token.functions.balanceOf(checksum(address)).call(block_identifier=block))

    def allowance(self, owner: str, spender: str | None = None, block: BlockIdentifier = "latest") -> int:
        spender_address = checksum(spender or self.escrow.address)
        return int(self.token.functions.allowance(checksum(owner), spender_address).call(block_identifier=block))

    def total_supply(self, block: BlockIdentifier = "latest") -> int:
        return int(self.token.functions.totalSupply().call(block_identifier=block))

    def total_locked(self, block: BlockIdentifier = "latest") -> int:
        return int(self.escrow.functions.totalLocked().call(block_identifier=block))

    def get_lock(self, trade_id: bytes, block: BlockIdentifier = "latest") -> OnChainLock:
        raw = cast(tuple[Any, ...], self.escrow.functions.getLock(trade_id).call(block_identifier=block))
        return OnChainLock.from_raw(raw, self.lock_statuses)

    def get_locks(
        self, trade_ids: list[bytes], block: int | str = "latest", batch_calls_max: int = LOCK_READS_PER_BATCH_MAX
    ) -> list[OnChainLock]:
        """getLock for many trades in JSON-RPC batches: one round trip per batch, not per trade."""
        block_tag = hex(block) if isinstance(block, int) else block
        escrow = str(self.escrow.address)
        locks: list[OnChainLock] = []
        for start in range(0, len(trade_ids), batch_calls_max):
            chunk = trade_ids[start : start + batch_calls_max]
            batch: list[tuple[Any, Any]] = [
                ("eth_call", [{"to": escrow, "data": self.escrow_calldata.encode("getLock", [key])}, block_tag])
                for key in chunk
            ]
            try:
                responses = self.w3.provider.make_batch_request(batch)  # type: ignore[attr-defined]
            except Exception as exc:
                raise ChainUnavailable(f"chain read failed: {type(exc).__name__}") from exc
            if not isinstance(responses, list) or any("error" in r for r in responses):
                raise ChainUnavailable("chain read failed: an eth_call in the batch returned an error")
            for response in sorted(responses, key=lambda r: int(r["id"])):
                raw = abi_decode(["(address,uint64,uint8,address,uint256)"], bytes.fromhex(str(response["result"])[2:]))
                locks.append(OnChainLock.from_raw(tuple(raw[0]), self.lock_statuses))
        return locks

    def last_escrow_event(self, event_name: str, trade_id: bytes) -> tuple[str | None, int | None]:
        """(tx hash, block) of the newest escrow event of this name for the trade, if any."""
        event = getattr(self.escrow.events, event_name)()
        logs = event.get_logs(from_block=self.manifest.deploy_block, argument_filters={"tradeId": trade_id})
        if not logs:
            return None, None
        return logs[-1]["transactionHash"].to_0x_hex(), int(logs[-1]["blockNumber"])

    def token_name(self) -> str:
        if not hasattr(self, "_token_name"):
            self._token_name = str(self.token.functions.name().call())
        return self._token_name

    def token_paused(self) -> bool:
        return bool(self.token.functions.paused().call())

    def escrow_paused(self) -> bool:
        return bool(self.escrow.functions.paused().call())

    def is_blacklisted(self, address: str) -> bool:
        return bool(self.token.functions.isBlackListed(checksum(address)).call())

    def permit_nonce(self, owner: str) -> int:
        return int(self.token.functions.nonces(checksum(owner)).call())

    def payer_funds_at_one_block(self, payer: str, trade_ids: list[bytes]) -> tuple[int, int, list[OnChainLock]]:
        """The payer's balance, its allowance to the escrow and these trades' locks, all read at
        one block: figures from two different blocks could count a lock mined in between as
        both spent and still to come."""
        block = self.block_number()
        return (
            self.balance_of(payer, block),
            self.allowance(payer, block=block),
            self.get_locks(trade_ids, block) if trade_ids else [],
        )

    def preflight(self, payer: str, payee: str) -> PreflightState:
        """One round trip instead of seven: acceptance runs this for every trade. The payer's
        figures and both parties' blacklist flags, read with preflight_many."""
        states = self.preflight_many([payer, payee])
        return replace(states[payer.lower()], payee_blacklisted=states[payee.lower()].payer_blacklisted)

    def preflight_many(self, addresses: Sequence[str]) -> dict[str, PreflightState]:
        """preflight() for many participants in ONE round trip (a batch of trades): each address's
        blacklist flag, balance and allowance, read as its own payer and payee."""
        unique = sorted({a.lower() for a in addresses})
        token, escrow = (str(self.token.address), self.token_calldata), (str(self.escrow.address), self.escrow_calldata)
        reads: list[tuple[tuple[str, CalldataEncoder], str, list[Any]]] = [
            (token, "paused", []),
            (escrow, "paused", []),
        ]
        for address in unique:
            reads += [
                (token, "isBlackListed", [address]),
                (token, "balanceOf", [address]),
                (token, "allowance", [address, str(self.escrow.address)]),
            ]
        values, latest_timestamp = self._read_batch(
            [(to, encoder.encode(fn, args)) for (to, encoder), fn, args in reads]
        )
        states = {}
        for i, address in enumerate(unique):
            blacklisted, balance, allowance = values[2 + 3 * i : 5 + 3 * i]
            states[address] = PreflightState(
                token_paused=bool(values[0]),
                escrow_paused=bool(values[1]),
                payer_blacklisted=bool(blacklisted),
                payee_blacklisted=bool(blacklisted),
                payer_balance_base_units=balance,
                payer_allowance_base_units=allowance,
                latest_timestamp=latest_timestamp,
            )
        return states

    def read_words(self, calls: Sequence[tuple[str, str]]) -> list[int]:
        """Many eth_calls returning one word each, in one round trip: (contract, calldata) pairs."""
        return self._read_batch(calls)[0]

    def _read_batch(self, calls: Sequence[tuple[str, str]]) -> tuple[list[int], int]:
        """eth_calls (one word each) plus the latest block's timestamp, in one JSON-RPC batch."""
        batch: list[tuple[Any, Any]] = [("eth_call", [{"to": to, "data": data}, "latest"]) for to, data in calls]
        batch.append(("eth_getBlockByNumber", ["latest", False]))
        try:
            responses = self.w3.provider.make_batch_request(batch)  # type: ignore[attr-defined]
        except Exception as exc:
            raise ChainUnavailable(f"chain read failed: {describe_error(exc)}") from exc
        if not isinstance(responses, list) or any("error" in r for r in responses):
            raise ChainUnavailable(f"chain read failed: {redact_text(str(responses))}")
        by_id = sorted(responses, key=lambda r: int(r["id"]))
        values = [int(str(r["result"]), 16) for r in by_id[: len(calls)]]
        return values, int(str(by_id[len(calls)]["result"]["timestamp"]), 16)

    def latest_timestamp(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])
