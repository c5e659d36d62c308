"""Connection to the chain and typed reads of the token and escrow (no signing here)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, cast

from eth_typing import BlockIdentifier, ChecksumAddress
from web3 import Web3
from web3.contract import Contract

from settlement.errors import ChainUnavailable
from settlement.manifest import DeploymentManifest

RPC_TIMEOUT_S = 30


class LockStatus(IntEnum):
    """Mirror of SettlementEscrow.Status."""

    NONE = 0
    LOCKED = 1
    RELEASED = 2
    REFUNDED = 3


@dataclass(frozen=True)
class OnChainLock:
    payer: str
    deadline: int
    status: LockStatus
    payee: str
    amount_base_units: int


def connect(rpc_url: str, timeout_s: float = RPC_TIMEOUT_S) -> Web3:
    """A Web3 over HTTP; raises ChainUnavailable (not a transport traceback) when nobody answers."""
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}))
    try:
        w3.eth.chain_id  # noqa: B018 - a cheap call to prove the endpoint answers
    except Exception as exc:
        raise ChainUnavailable(f"no EVM JSON-RPC answer at {rpc_url}: {exc}") from exc
    return w3


def checksum(address: str) -> ChecksumAddress:
    return Web3.to_checksum_address(address)


class ChainClient:
    """Reads of on-chain state that the engine, indexer and reconciler share."""

    def __init__(self, w3: Web3, manifest: DeploymentManifest) -> None:
        self.w3 = w3
        self.manifest = manifest
        self.chain_id = manifest.chain_id
        self.token: Contract = w3.eth.contract(address=checksum(manifest.token.address), abi=manifest.token.abi)
        self.escrow: Contract = w3.eth.contract(address=checksum(manifest.escrow.address), abi=manifest.escrow.abi)

    @classmethod
    def from_manifest(cls, manifest: DeploymentManifest, rpc_url: str | None = None) -> ChainClient:
        return cls(connect(rpc_url or manifest.rpc_url), manifest)

    def block_number(self) -> int:
        return int(self.w3.eth.block_number)

    def balance_of(self, address: str, block: BlockIdentifier = "latest") -> int:
        return int(self.token.functions.balanceOf(checksum(address)).call(block_identifier=block))

    def allowance(self, owner: str, spender: str | None = None, block: BlockIdentifier = "latest") -> int:
        spender_address = checksum(spender or self.escrow.address)
        return int(self.token.functions.allowance(checksum(owner), spender_address).call(block_identifier=block))

    def total_locked(self, block: BlockIdentifier = "latest") -> int:
        return int(self.escrow.functions.totalLocked().call(block_identifier=block))

    def get_lock(self, trade_id: bytes, block: BlockIdentifier = "latest") -> OnChainLock:
        raw = cast(tuple[Any, ...], self.escrow.functions.getLock(trade_id).call(block_identifier=block))
        return OnChainLock(
            payer=str(raw[0]),
            deadline=int(raw[1]),
            status=LockStatus(int(raw[2])),
            payee=str(raw[3]),
            amount_base_units=int(raw[4]),
        )

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

    def latest_timestamp(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])
