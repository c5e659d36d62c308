"""Wire models: what the API accepts (XCreate) and returns (XPublic), one module per area.

Conventions: snake_case fields; money as decimal strings in coin units (never JSON numbers, which
many clients parse into floats); timestamps ISO 8601 in UTC. Conversion to the domain's integer
base units happens at the edge, with settlement.money.
"""

from __future__ import annotations

from api.schemas.audit import (
    JournalEntryPublic,
    PostingPublic,
    ReconciliationBreakPublic,
    ReconciliationPublic,
    VerifyProblemPublic,
    VerifyPublic,
)
from api.schemas.common import (
    DECIMAL_PATTERN,
    ID_PATTERN,
    TEXT_PATTERN,
    UTC_EXAMPLE,
    ClientIdPath,
    DecimalString,
    HealthPublic,
    Id,
    Page,
    ParticipantIdPath,
    Problem,
    TradeIdPath,
    UtcDatetime,
    coins,
    sequence_cursor,
    utc,
)
from api.schemas.participants import (
    AllocationCreate,
    AllocationPublic,
    BalancesPublic,
    ClientBalancePublic,
    ClientCreate,
    ClientPublic,
    FxRateCreate,
    FxRatePublic,
    IssueCreate,
    IssuePublic,
    ParticipantCreate,
    ParticipantCreated,
    ParticipantPublic,
)
from api.schemas.trades import (
    AffirmCreate,
    LockAuthorizationCreate,
    MismatchPublic,
    PermitCreate,
    TradeCreate,
    TradeEventPublic,
    TradePublic,
    TransitionPublic,
)
from api.schemas.webhooks import WebhookDeliveryPublic

__all__ = [
    "DECIMAL_PATTERN",
    "ID_PATTERN",
    "TEXT_PATTERN",
    "UTC_EXAMPLE",
    "AffirmCreate",
    "AllocationCreate",
    "AllocationPublic",
    "BalancesPublic",
    "ClientBalancePublic",
    "ClientCreate",
    "ClientIdPath",
    "ClientPublic",
    "DecimalString",
    "FxRateCreate",
    "FxRatePublic",
    "HealthPublic",
    "Id",
    "IssueCreate",
    "IssuePublic",
    "JournalEntryPublic",
    "LockAuthorizationCreate",
    "MismatchPublic",
    "Page",
    "ParticipantCreate",
    "ParticipantCreated",
    "ParticipantIdPath",
    "ParticipantPublic",
    "PermitCreate",
    "PostingPublic",
    "Problem",
    "ReconciliationBreakPublic",
    "ReconciliationPublic",
    "TradeCreate",
    "TradeEventPublic",
    "TradeIdPath",
    "TradePublic",
    "TransitionPublic",
    "UtcDatetime",
    "VerifyProblemPublic",
    "VerifyPublic",
    "WebhookDeliveryPublic",
    "coins",
    "sequence_cursor",
    "utc",
]
