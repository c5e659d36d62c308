"""What the dashboard's overview shows: trades by status, each broker's coins as the chain, the
ledger and the escrow see them, and where the audit chain stands.

Why three figures per broker: a mismatch between any two is the first thing an operator or a
regulator should see, without reading a reconciliation report.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BrokerPosition:
    participant_id: str
    name: str
    jurisdiction: str
    address: str
    on_chain_base_units: int
    ledger_base_units: int
    unallocated_base_units: int
    locked_trades_base_units: int  # the trades table: LOCKED trades this broker pays
    locked_ledger_base_units: int  # the journal: the escrow accounts of those trades
    locked_on_chain_base_units: int | None  # the escrow contract's locks of those trades (None: too many to read)

    @property
    def wallet_agrees(self) -> bool:
        return self.on_chain_base_units == self.ledger_base_units

    @property
    def escrow_agrees(self) -> bool:
        figures = {self.locked_trades_base_units, self.locked_ledger_base_units}
        if self.locked_on_chain_base_units is not None:
            figures.add(self.locked_on_chain_base_units)
        return len(figures) == 1


@dataclass(frozen=True)
class Overview:
    viewer_participant_id: str | None  # who asked: None for the operator
    chain_id: int
    latest_block: int
    indexed_block: int | None
    token_address: str
    escrow_address: str
    rpc_url: str | None  # operator only, credentials removed
    trade_counts: dict[str, int]
    brokers: list[BrokerPosition]
    journal_seq: int
    journal_head_hash: str
    anchor: str | None  # the latest on-chain anchor of the journal head (LedgerAnchor); None before the first
