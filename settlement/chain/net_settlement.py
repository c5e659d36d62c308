"""Reads and calls of the SettlementNet contract: pre-funded balances and one-call window settlement.

Why a module of its own: net mode's contract has its own rules (participants in ascending
address order, positions summing to zero, a trades root), and the engine should speak in
windows and positions, not in calldata.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from web3 import Web3
from web3.types import BlockIdentifier

from settlement import errors
from settlement.chain.client import ChainClient
from settlement.chain.merkle import TradeLeaf, TradeProof, verify_proof
from settlement.chain.sender import Call, chain_read

PARTICIPANTS_PER_WINDOW_MAX = 256  # SettlementNet.MAX_PARTICIPANTS
# settleWindow's gas is known from its shape: a fixed part plus one balance write per participant
# (cold SSTORE ~22k + event ~3k). No eth_estimateGas per window.
SETTLE_GAS_BASE = 90_000
SETTLE_GAS_PER_PARTICIPANT = 40_000


@dataclass(frozen=True)
class SettledWindow:
    window_id: int
    trades_root: bytes
    trade_count: int
    participant_count: int
    settled_at_s: int
    block_number: int

    @property
    def settled(self) -> bool:
        return self.settled_at_s != 0


class NetSettlementContract:
    def __init__(self, chain: ChainClient) -> None:
        deployed = chain.manifest.net
        if deployed is None:
            raise errors.ManifestMissing(
                "the deployment manifest has no SettlementNet: redeploy (python -m settlement.devnet reset)"
            )
        self.chain = chain
        self.address = Web3.to_checksum_address(deployed.address)
        self.contract = chain.w3.eth.contract(address=self.address, abi=deployed.abi)

    # ----------------------------------------------------------------- reads

    def balance_of(self, participant: str, block: BlockIdentifier = "latest") -> int:
        fn = self.contract.functions.balanceOf(Web3.to_checksum_address(participant))
        return int(chain_read("SettlementNet read", lambda: fn.call(block_identifier=block)))

    def total_balances(self, block: BlockIdentifier = "latest") -> int:
        return int(
            chain_read(
                "SettlementNet read", lambda: self.contract.functions.totalBalances().call(block_identifier=block)
            )
        )

    def is_participant(self, address: str) -> bool:
        fn = self.contract.functions.isParticipant(Web3.to_checksum_address(address))
        return bool(chain_read("SettlementNet read", fn.call))

    def was_removed(self, address: str) -> bool:
        """Whether the operator ever removed `address` (ParticipantRemoved): such a broker is not
        admitted again by the service on its own."""
        event = self.contract.events.ParticipantRemoved()
        logs = chain_read(
            "SettlementNet read",
            lambda: event.get_logs(
                from_block=self.chain.manifest.deploy_block,
                argument_filters={"participant": Web3.to_checksum_address(address)},
            ),
        )
        return bool(logs)

    def window(self, window_id: int, block: BlockIdentifier = "latest") -> SettledWindow:
        fn = self.contract.functions.getWindow(window_id)
        root, settled_at, block_number, trade_count, participant_count = chain_read(
            "SettlementNet read", lambda: fn.call(block_identifier=block)
        )
        return SettledWindow(
            window_id, bytes(root), int(trade_count), int(participant_count), int(settled_at), int(block_number)
        )

    def verify_trade(self, window_id: int, leaf: TradeLeaf, proof: Sequence[bytes]) -> bool:
        """The contract's own answer to "is this trade in that window's root?"."""
        fn = self.contract.functions.verifyTrade(
            window_id,
            leaf.chain_trade_id,
            Web3.to_checksum_address(leaf.payer),
            Web3.to_checksum_address(leaf.payee),
            leaf.amount_base_units,
            list(proof),
        )
        return bool(chain_read("SettlementNet read", fn.call))

    # ----------------------------------------------------------------- calls

    def admit(self, participant: str) -> Call:
        data = self.contract.encode_abi("admitParticipant", [Web3.to_checksum_address(participant)])
        return Call(to=self.address, data=data, purpose=f"admit {participant} to net settlement")

    def remove(self, participant: str) -> Call:
        data = self.contract.encode_abi("removeParticipant", [Web3.to_checksum_address(participant)])
        return Call(to=self.address, data=data, purpose=f"remove {participant} from net settlement")

    def allowance(self, owner: str) -> int:
        """What `owner` lets this contract take from its wallet (deposit pulls by allowance)."""
        return self.chain.allowance(owner, self.address)

    def approve(self, amount_base_units: int) -> Call:
        """The broker's token approve of this contract (a deposit pulls its coins by allowance)."""
        data = self.chain.token.encode_abi("approve", [self.address, amount_base_units])
        return Call(to=str(self.chain.token.address), data=data, purpose=f"approve net settlement {amount_base_units}")

    def deposit(self, amount_base_units: int) -> Call:
        data = self.contract.encode_abi("deposit", [amount_base_units])
        return Call(to=self.address, data=data, purpose="deposit into settlement balance")

    def withdraw(self, amount_base_units: int) -> Call:
        data = self.contract.encode_abi("withdraw", [amount_base_units])
        return Call(to=self.address, data=data, purpose="withdraw settlement balance")

    def settle_window(self, window_id: int, positions: Mapping[str, int], trades_root: bytes, trade_count: int) -> Call:
        """One call for the whole window: participants in ascending address order, as the contract
        requires. Zero positions stay in: a window whose trades net to nothing still records its
        root (and each trade's proof), and the contract checks every party's standing."""
        ordered = sorted(
            ((Web3.to_checksum_address(a), p) for a, p in positions.items()),
            key=lambda item: int(item[0], 16),
        )
        if len(ordered) > PARTICIPANTS_PER_WINDOW_MAX:
            raise ValueError(f"a window settles at most {PARTICIPANTS_PER_WINDOW_MAX} participants")
        data = self.contract.encode_abi(
            "settleWindow",
            [window_id, [a for a, _ in ordered], [p for _, p in ordered], trades_root, trade_count],
        )
        gas = SETTLE_GAS_BASE + SETTLE_GAS_PER_PARTICIPANT * len(ordered)
        return Call(to=self.address, data=data, purpose=f"settle window {window_id}", gas=gas)


@dataclass(frozen=True)
class ProofCheck:
    """The chain's answers about one trade proof; `ok` only if every one agrees."""

    window_settled: bool
    root_matches: bool  # the root in the proof is the one the contract recorded for the window
    proof_leads_to_root: bool  # recomputed here, off chain
    contract_says_included: bool  # SettlementNet.verifyTrade, on chain

    @property
    def ok(self) -> bool:
        return self.window_settled and self.root_matches and self.proof_leads_to_root and self.contract_says_included


def check_trade_proof(w3: Web3, contract_address: str, abi: list[dict[str, Any]], proof: TradeProof) -> ProofCheck:
    """Check a trade's proof with nothing but the chain and the contract's address (and its ABI,
    which ships with the package): no database, no manifest, no trust in the service."""
    contract = w3.eth.contract(address=Web3.to_checksum_address(contract_address), abi=abi)
    try:
        recorded_root, settled_at, *_ = contract.functions.getWindow(proof.window_id).call()
        included = contract.functions.verifyTrade(
            proof.window_id,
            proof.leaf.chain_trade_id,
            Web3.to_checksum_address(proof.leaf.payer),
            Web3.to_checksum_address(proof.leaf.payee),
            proof.leaf.amount_base_units,
            list(proof.siblings),
        ).call()
    except Exception as exc:
        raise errors.ChainUnavailable(f"SettlementNet read failed: {type(exc).__name__}") from exc
    return ProofCheck(
        window_settled=int(settled_at) != 0,
        root_matches=bytes(recorded_root) == proof.root,
        proof_leads_to_root=verify_proof(proof.leaf, proof.siblings, proof.root),
        contract_says_included=bool(included),
    )
