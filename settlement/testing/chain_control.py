"""Chain control for tests: time travel, mining, reorgs, an RPC outage, token pause and blacklist.

Issuer actions (pause, blacklist) are sent with the running service's own issuer sender, so its
local nonce stays in step with the chain; the same key, through another sender, would make the
service's next issuance fail with a nonce gap.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from settlement.chain.sender import Call

if TYPE_CHECKING:
    from settlement.service import SettlementService
    from settlement.testing.devnet import Devnet
    from settlement.testing.rpc_gate import RpcGate

Pausable = Literal["token", "escrow"]
RECOVERY_WAIT_S = 5.0


@dataclass
class ChainControl:
    """What a test may do to the chain under a running settlement service."""

    devnet: Devnet
    gate: RpcGate
    service: SettlementService

    def time_travel(self, seconds: int) -> None:
        """Move chain time forward by `seconds` and mine a block (deadlines are chain time)."""
        self.devnet.increase_time(seconds)

    def mine(self, blocks: int = 1) -> None:
        """Mine empty blocks (e.g. to bury receipts under SETTLEMENT_CONFIRMATION_DEPTH)."""
        self.devnet.mine(blocks)

    def reorg(self, depth: int) -> None:
        """Replace the last `depth` blocks; their transactions are gone from the new chain."""
        self.devnet.reorg(depth)

    @contextlib.contextmanager
    def rpc_down(self) -> Iterator[None]:
        """The service cannot reach the node inside the block (connections cut); afterwards it can,
        and before this returns its worker has tried again (at most RECOVERY_WAIT_S), so an error
        the outage left in /v1/health is gone unless the worker still fails."""
        with self.gate.down():
            yield
        worker = self.service.worker
        if worker.active:
            worker.wake()
            deadline = time.monotonic() + RECOVERY_WAIT_S
            while worker.health.error_class is not None and time.monotonic() < deadline:
                time.sleep(0.02)

    def _issuer_call(self, contract: Pausable, function: str, *args: object) -> None:
        issuer = self.service.custody.issuer
        assert issuer is not None, "the service holds no issuer key (not a devnet?)"
        target = self.service.chain.token if contract == "token" else self.service.chain.escrow
        issuer.transact(Call(str(target.address), target.encode_abi(function, list(args)), f"test: {function}"))

    def pause(self, contract: Pausable = "token") -> None:
        """Pause the token (transfers stop) or the escrow (locks, releases and refunds stop)."""
        self._issuer_call(contract, "pause")

    def unpause(self, contract: Pausable = "token") -> None:
        self._issuer_call(contract, "unpause")

    @contextlib.contextmanager
    def paused(self, contract: Pausable = "token") -> Iterator[None]:
        """Paused inside the block, unpaused after it."""
        self.pause(contract)
        try:
            yield
        finally:
            self.unpause(contract)

    def blacklist(self, address: str) -> None:
        """The token issuer blacklists `address`: it can neither send nor receive coins."""
        self._issuer_call("token", "addBlackList", self.service.chain.w3.to_checksum_address(address))

    def unblacklist(self, address: str) -> None:
        self._issuer_call("token", "removeBlackList", self.service.chain.w3.to_checksum_address(address))
