"""Reads and calls of the LedgerAnchor contract (the journal's heads, anchored by their own key)."""

from __future__ import annotations

from functools import partial
from typing import Any

from eth_abi.abi import decode as abi_decode
from web3 import Web3

from settlement import errors
from settlement.chain.client import ChainClient
from settlement.chain.sender import Call, chain_read
from settlement.domain.anchors import AnchoredHead

ANCHORS_READ_MAX = 10_000  # one verify reads at most this many anchors (the newest ones)
READ_BATCH_MAX = 500


class LedgerAnchorContract:
    def __init__(self, chain: ChainClient) -> None:
        deployed = chain.manifest.ledger_anchor
        if deployed is None:
            raise errors.ManifestMissing(
                "the deployment manifest has no LedgerAnchor: redeploy (python -m settlement.devnet reset)"
            )
        self.chain = chain
        self.address = Web3.to_checksum_address(deployed.address)
        self.contract = chain.w3.eth.contract(address=self.address, abi=deployed.abi)

    def latest_sequence(self) -> int:
        return int(chain_read("LedgerAnchor read", lambda: self.contract.functions.latestSequence().call()))

    def latest(self) -> AnchoredHead | None:
        count = int(chain_read("LedgerAnchor read", lambda: self.contract.functions.anchorCount().call()))
        if count == 0:
            return None
        sequence, anchored_at, head_hash = chain_read(
            "LedgerAnchor read", lambda: self.contract.functions.anchorAt(count - 1).call()
        )
        return AnchoredHead(count - 1, int(sequence), bytes(head_hash).hex(), int(anchored_at))

    def anchors(self) -> list[AnchoredHead]:
        """Every anchor (the newest ANCHORS_READ_MAX), read in JSON-RPC batches."""
        count = int(chain_read("LedgerAnchor read", lambda: self.contract.functions.anchorCount().call()))
        first = max(0, count - ANCHORS_READ_MAX)
        found: list[AnchoredHead] = []
        provider: Any = self.chain.w3.provider  # make_batch_request is on the HTTP provider only
        for start in range(first, count, READ_BATCH_MAX):
            indices = range(start, min(count, start + READ_BATCH_MAX))
            batch = [
                ("eth_call", [{"to": self.address, "data": self.contract.encode_abi("anchorAt", [i])}, "latest"])
                for i in indices
            ]
            responses = chain_read("LedgerAnchor read", partial(provider.make_batch_request, batch))
            if not isinstance(responses, list) or any("error" in r for r in responses):
                raise errors.ChainUnavailable("LedgerAnchor read failed: an eth_call in the batch returned an error")
            for i, response in zip(indices, sorted(responses, key=lambda r: int(r["id"])), strict=True):
                raw = abi_decode(["(uint64,uint64,bytes32)"], bytes.fromhex(str(response["result"])[2:]))
                sequence, anchored_at, head_hash = raw[0]
                found.append(AnchoredHead(i, int(sequence), bytes(head_hash).hex(), int(anchored_at)))
        return found

    def anchor_call(self, sequence: int, head_hash_hex: str) -> Call:
        data = self.contract.encode_abi("anchor", [sequence, bytes.fromhex(head_hash_hex)])
        return Call(to=self.address, data=data, purpose=f"anchor journal seq {sequence}", gas=120_000)
