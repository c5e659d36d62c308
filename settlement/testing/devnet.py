"""A throwaway devnet for tests: anvil on a free loopback port, contracts deployed, snapshots.

Snapshot ids in anvil are single-use, so `isolated()` takes a fresh one each time and reverts
to it afterwards; tests stay independent and the chain stays short (anvil slows as it grows).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from web3 import Web3

from settlement.chain.client import ChainClient, connect
from settlement.config import DEVNET_MNEMONIC
from settlement.devnet.anvil import AnvilConfig, AnvilProcess, free_port
from settlement.devnet.deploy import deploy
from settlement.manifest import DeploymentManifest

TEST_CHAIN_ID = 31337
MINE_BLOCKS_MAX = 10_000  # anvil slows as its chain grows: keep test chains short
REORG_DEPTH_MAX = 64
RECEIPT_TIMEOUT_S = 30


@dataclass
class Devnet:
    """anvil with the contracts deployed; `manifest` holds addresses, ABIs and devnet keys."""

    anvil: AnvilProcess
    manifest: DeploymentManifest
    w3: Web3
    _on_revert: list[Any] = field(default_factory=list)

    @classmethod
    def start(cls, chain_id: int = TEST_CHAIN_ID) -> Devnet:
        """anvil on a free loopback port (so pytest-xdist workers never collide), contracts deployed."""
        config = AnvilConfig(host="127.0.0.1", port=free_port(), chain_id=chain_id, mnemonic=DEVNET_MNEMONIC)
        anvil = AnvilProcess(config).start()
        try:
            manifest = deploy(anvil.rpc_url, DEVNET_MNEMONIC)
        except BaseException:
            anvil.stop()
            raise
        return cls(anvil=anvil, manifest=manifest, w3=connect(anvil.rpc_url))

    @property
    def rpc_url(self) -> str:
        return self.anvil.rpc_url

    def chain(self) -> ChainClient:
        return ChainClient(self.w3, self.manifest)

    def rpc(self, method: str, *params: Any) -> Any:
        response = self.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
        if "error" in response:
            raise RuntimeError(f"{method} failed: {response['error']}")
        return response["result"]

    def send_as(self, sender: str, to: str, data: str = "0x") -> Any:
        """A transaction from any address (impersonated), waited for until mined; returns its
        receipt. Automine is not synchronous: anvil answers eth_sendTransaction before the block
        holding it is stored, so reading the receipt or the state at once can miss it."""
        self.rpc("anvil_impersonateAccount", sender)
        try:
            tx_hash = self.rpc("eth_sendTransaction", {"from": sender, "to": to, "data": data, "value": "0x0"})
        finally:
            self.rpc("anvil_stopImpersonatingAccount", sender)
        return self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_S)

    def snapshot(self) -> str:
        """A snapshot id for `revert`. anvil's ids are single-use: take a new one after reverting."""
        return str(self.rpc("evm_snapshot"))

    def revert(self, snapshot_id: str) -> None:
        """Back to the snapshot: blocks, balances, nonces and the clock. Anyone holding a local
        nonce (a running service) must re-read it afterwards, so revert with the service stopped."""
        if not self.rpc("evm_revert", snapshot_id):
            raise RuntimeError(f"evm_revert({snapshot_id}) refused")

    @contextlib.contextmanager
    def isolated(self) -> Iterator[Devnet]:
        """Everything done inside is undone afterwards (chain state, blocks, nonces)."""
        snapshot_id = self.snapshot()
        try:
            yield self
        finally:
            self.revert(snapshot_id)

    def increase_time(self, seconds: int) -> None:
        """Move the chain clock forward and mine a block at the new time (deadlines are chain time)."""
        self.rpc("evm_increaseTime", seconds)
        self.rpc("evm_mine")

    def mine(self, blocks: int = 1) -> None:
        """Mine empty blocks, e.g. to bury receipts under a confirmation depth."""
        if not 1 <= blocks <= MINE_BLOCKS_MAX:
            raise ValueError(f"mine between 1 and {MINE_BLOCKS_MAX} blocks, not {blocks}")
        self.rpc("anvil_mine", hex(blocks))

    def reorg(self, depth: int) -> None:
        """Replace the last `depth` blocks with new ones (their transactions dropped), as a chain
        reorganisation would. anvil_reorg sometimes answers "Required data unavailable"; rolling
        back and mining the same number of empty blocks is then the same reorg by other means."""
        head = int(self.w3.eth.block_number)
        if not 1 <= depth <= min(head, REORG_DEPTH_MAX):
            raise ValueError(f"reorg depth must be 1..{min(head, REORG_DEPTH_MAX)} (head {head}), not {depth}")
        try:
            self.rpc("anvil_reorg", depth, [])
        except RuntimeError:
            self.rpc("anvil_rollback", depth)
            self.rpc("evm_increaseTime", 1)  # new timestamps: the replacement blocks get new hashes
            self.rpc("anvil_mine", hex(depth))

    def stop(self) -> None:
        """Stop anvil (nothing is kept: a test devnet is throwaway)."""
        self.anvil.stop()
