"""Wire models for the dashboard's reads: the overview and a decoded transaction."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from settlement.api.schemas.common import coins
from settlement.views import BrokerPosition, DecodedEvent, DecodedTransaction, DecodedValue, Overview


class BrokerPositionPublic(BaseModel):
    participant_id: str
    name: str
    jurisdiction: str
    address: str
    on_chain: str = Field(description="Coins in the omnibus wallet, read on chain.")
    ledger: str = Field(description="The wallet's ledger balance: unallocated plus its clients.")
    unallocated: str
    wallet_agrees: bool
    locked_trades: str = Field(description="Coins of this broker's LOCKED trades as payer (trade records).")
    locked_ledger: str = Field(description="The same trades' escrow accounts in the journal.")
    locked_on_chain: str | None = Field(description="The same trades' locks in the escrow contract.")
    escrow_agrees: bool

    @classmethod
    def of(cls, p: BrokerPosition) -> BrokerPositionPublic:
        return cls(
            participant_id=p.participant_id,
            name=p.name,
            jurisdiction=p.jurisdiction,
            address=p.address,
            on_chain=coins(p.on_chain_base_units),
            ledger=coins(p.ledger_base_units),
            unallocated=coins(p.unallocated_base_units),
            wallet_agrees=p.wallet_agrees,
            locked_trades=coins(p.locked_trades_base_units),
            locked_ledger=coins(p.locked_ledger_base_units),
            locked_on_chain=None if p.locked_on_chain_base_units is None else coins(p.locked_on_chain_base_units),
            escrow_agrees=p.escrow_agrees,
        )


class OverviewPublic(BaseModel):
    viewer_participant_id: str | None = Field(description="The caller: a participant's id, null for the operator.")
    chain_id: int
    latest_block: int
    indexed_block: int | None
    token_address: str
    escrow_address: str
    rpc_url: str | None = Field(description="The chain's JSON-RPC endpoint (operator only).")
    trade_counts: dict[str, int]
    brokers: list[BrokerPositionPublic]
    journal_seq: int
    journal_head_hash: str
    anchor: str | None = Field(description="The journal head's latest on-chain anchor; null: not anchored yet.")

    @classmethod
    def of(cls, o: Overview) -> OverviewPublic:
        return cls(
            viewer_participant_id=o.viewer_participant_id,
            chain_id=o.chain_id,
            latest_block=o.latest_block,
            indexed_block=o.indexed_block,
            token_address=o.token_address,
            escrow_address=o.escrow_address,
            rpc_url=o.rpc_url,
            trade_counts=o.trade_counts,
            brokers=[BrokerPositionPublic.of(b) for b in o.brokers],
            journal_seq=o.journal_seq,
            journal_head_hash=o.journal_head_hash,
            anchor=o.anchor,
        )


class DecodedValuePublic(BaseModel):
    name: str
    type: str
    value: Any = Field(description="A string (exact, also for uint256 and bytes), or a list for arrays and tuples.")

    @classmethod
    def of(cls, v: DecodedValue) -> DecodedValuePublic:
        return cls(name=v.name, type=v.type, value=v.value)


class EventPublic(BaseModel):
    log_index: int
    address: str
    contract: str | None
    name: str | None = Field(description="Null for a log the manifest's ABIs do not describe.")
    args: list[DecodedValuePublic]
    topics: list[str]
    data: str

    @classmethod
    def of(cls, e: DecodedEvent) -> EventPublic:
        return cls(
            log_index=e.log_index,
            address=e.address,
            contract=e.contract,
            name=e.name,
            args=[DecodedValuePublic.of(a) for a in e.args],
            topics=list(e.topics),
            data=e.data,
        )


class TransactionPublic(BaseModel):
    tx_hash: str
    block_number: int | None
    block_hash: str | None
    from_address: str
    to_address: str | None
    contract: str | None
    function: str | None
    selector: str | None
    args: list[DecodedValuePublic]
    value_wei: str
    nonce: int
    status: int | None = Field(description="1 success, 0 reverted, null while pending.")
    gas_used: int | None
    gas_limit: int
    events: list[EventPublic]

    @classmethod
    def of(cls, t: DecodedTransaction) -> TransactionPublic:
        return cls(
            tx_hash=t.tx_hash,
            block_number=t.block_number,
            block_hash=t.block_hash,
            from_address=t.from_address,
            to_address=t.to_address,
            contract=t.contract,
            function=t.function,
            selector=t.selector,
            args=[DecodedValuePublic.of(a) for a in t.args],
            value_wei=str(t.value_wei),
            nonce=t.nonce,
            status=t.status,
            gas_used=t.gas_used,
            gas_limit=t.gas_limit,
            events=[EventPublic.of(e) for e in t.events],
        )
