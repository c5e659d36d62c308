"""Wire models for net settlement windows."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from settlement.api.schemas.common import coins, utc
from settlement.domain.window import WindowStatus
from settlement.views import WindowView


class WindowPositionPublic(BaseModel):
    participant_id: str
    name: str
    address: str
    pays: str = Field(description="Coins its trades in the window pay, gross.")
    receives: str = Field(description="Coins its trades in the window receive, gross.")
    net: str = Field(description="receives - pays: what the window's one transaction moves for it.")


class WindowPublic(BaseModel):
    id: int
    status: WindowStatus
    opened_at: datetime
    closed_at: datetime | None
    close_block: int | None = Field(description="The block the indexer had confirmed when the window closed.")
    trade_count: int
    gross_total: str | None = Field(description="Operator only: the window's gross payments.")
    net_total: str | None = Field(description="Operator only: what its net settlement moves.")
    liquidity_saved_ratio: str | None = Field(description="Operator only: 1 - net/gross.")
    trades_root: str | None
    settlement_tx_hash: str | None
    settlement_block: int | None
    settled_at: datetime | None
    positions: list[WindowPositionPublic] = Field(description="Per broker; a broker sees only its own row.")

    @classmethod
    def of(cls, window: WindowView) -> WindowPublic:
        return cls(
            id=window.id,
            status=WindowStatus(window.status),
            opened_at=utc(window.opened_at),
            closed_at=utc(window.closed_at) if window.closed_at else None,
            close_block=window.close_block,
            trade_count=window.trade_count,
            gross_total=None if window.gross_total_base_units is None else coins(window.gross_total_base_units),
            net_total=None if window.net_total_base_units is None else coins(window.net_total_base_units),
            liquidity_saved_ratio=None if window.liquidity_saved_ratio is None else str(window.liquidity_saved_ratio),
            trades_root=window.trades_root,
            settlement_tx_hash=window.settlement_tx_hash,
            settlement_block=window.settlement_block,
            settled_at=utc(window.settled_at) if window.settled_at else None,
            positions=[
                WindowPositionPublic(
                    participant_id=p.participant_id,
                    name=p.name,
                    address=p.address,
                    pays=coins(p.pays_base_units),
                    receives=coins(p.receives_base_units),
                    net=coins(p.net_base_units),
                )
                for p in window.positions
            ],
        )


class WindowsPublic(BaseModel):
    items: list[WindowPublic]
