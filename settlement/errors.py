"""One exception hierarchy for the whole product, rooted in SettlementError.

Each class carries a stable machine-readable ``code`` and the HTTP status the API maps it to,
so the mapping to RFC 9457 problem responses is written once (in api/problems.py) and clients
can branch on ``code`` without parsing messages.
"""

from __future__ import annotations

from typing import Any, ClassVar


class SettlementError(Exception):
    """Base of every error the product raises on purpose."""

    code: ClassVar[str] = "settlement_error"
    http_status: ClassVar[int] = 400
    title: ClassVar[str] = "Settlement error"

    def __init__(self, detail: str = "", **context: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.context = context

    @property
    def outcome_unknown(self) -> bool:
        """Raised after an effect may have started (a transaction went out and its fate is not
        known yet): whoever retries must not do the work a second time."""
        return bool(self.context.get("outcome_unknown"))

    def http_headers(self) -> dict[str, str]:
        """Response headers the API sends with this error; none unless a subclass says so."""
        return {}


# --- input and domain validation -------------------------------------------------------------


class ValidationFailed(SettlementError):
    code = "validation"
    http_status = 422
    title = "Invalid request"


class UnknownParticipant(ValidationFailed):
    code = "unknown_participant"
    title = "Unknown participant"


class UnknownClientAccount(ValidationFailed):
    code = "unknown_client_account"
    title = "Unknown client account"


class SameParty(ValidationFailed):
    code = "same_party"
    title = "Buyer and seller must be different brokers"


class NonPositiveValue(ValidationFailed):
    code = "non_positive_value"
    title = "Quantity and price must be greater than zero"


class ZeroSettlementAmount(ValidationFailed):
    code = "zero_settlement_amount"
    title = "Settlement amount rounds to zero"


class AmountTooLarge(ValidationFailed):
    code = "amount_too_large"
    title = "Amount beyond what the token can hold"


class UnknownCurrency(ValidationFailed):
    code = "unknown_currency"
    title = "Unknown or unsupported currency"


class MissingFxRate(ValidationFailed):
    code = "missing_fx_rate"
    title = "No FX rate recorded for this currency"


class InvalidFxRate(ValidationFailed):
    code = "invalid_fx_rate"
    title = "FX rate refused"


class StaleFxRate(ValidationFailed):
    code = "stale_fx_rate"
    title = "The currency's latest FX rate is too old to price a trade"


class DeadlineInPast(ValidationFailed):
    code = "deadline_in_past"
    title = "Settlement deadline is in the past"


class InvalidLockAuthorization(ValidationFailed):
    code = "invalid_lock_authorization"
    title = "The lock signature is not the payer's signature of this trade's terms"


class ReservedAddress(ValidationFailed):
    code = "reserved_address"
    title = "The zero address or a system address cannot be a participant's wallet"


class InvalidPermit(ValidationFailed):
    code = "invalid_permit"
    title = "Permit does not authorise this lock"


# --- state --------------------------------------------------------------------------------------


class WithdrawalExceedsBalance(ValidationFailed):
    code = "withdrawal_exceeds_balance"
    title = "Withdrawal beyond the settlement balance"


class DepositExceedsWallet(ValidationFailed):
    code = "deposit_exceeds_wallet"
    title = "Deposit beyond the wallet's coins"


class RemovedFromNetSettlement(SettlementError):
    """The operator removed the broker from SettlementNet: no deposits until it admits it again
    (the broker may still withdraw its balance)."""

    code = "removed_from_net_settlement"
    http_status = 409
    title = "Removed from net settlement"


class NetDebitCapExceeded(SettlementError):
    """Net mode's liquidity-cover check: the payer's net position in the open window, with what its
    matched trades reserve, would pass its net debit cap (its settlement balance, or the operator's
    lower cap). The payer deposits more, or the trade settles gross."""

    code = "net_debit_cap_exceeded"
    http_status = 409
    title = "Net debit cap exceeded"


class NetModeUnavailable(SettlementError):
    """A net trade, on a deployment without a net settlement contract, or with client sub-accounts
    (net mode settles brokers' positions; a trade between clients settles gross)."""

    code = "net_mode_unavailable"
    http_status = 422
    title = "Net settlement not available for this trade"


class TradeNotSettled(SettlementError):
    """A proof exists once the trade's window is settled on chain (net trades only)."""

    code = "trade_not_settled"
    http_status = 409
    title = "Trade not settled in a window yet"


class WindowNotClosable(SettlementError):
    code = "window_not_closable"
    http_status = 409
    title = "Window cannot be closed"


class NotCustodial(SettlementError):
    """The service does not hold this broker's key, so it cannot move the broker's coins: the
    broker sends the transaction from its own wallet."""

    code = "not_custodial"
    http_status = 409
    title = "The broker signs this itself"


class NotFound(SettlementError):
    code = "not_found"
    http_status = 404
    title = "Not found"


class InvalidTransition(SettlementError):
    code = "invalid_transition"
    http_status = 409
    title = "Trade is not in a state that allows this"


class DuplicateTrade(SettlementError):
    code = "duplicate_trade"
    http_status = 409
    title = "trade_ref already used by this broker"


class IdempotencyConflict(SettlementError):
    code = "idempotency_conflict"
    http_status = 409
    title = "Idempotency-Key reused with a different request"


class IdempotencyInProgress(SettlementError):
    code = "idempotency_in_progress"
    http_status = 409
    title = "A request with this Idempotency-Key is still being processed"
    retry_after_s: ClassVar[int] = 1

    def http_headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


# --- auth ---------------------------------------------------------------------------------------


class Unauthenticated(SettlementError):
    code = "unauthenticated"
    http_status = 401
    title = "Missing or invalid API key"


class Forbidden(SettlementError):
    code = "forbidden"
    http_status = 403
    title = "Not allowed for this caller"


# --- chain: decoded reverts and pre-flight checks --------------------------------------------


class SettlementUnavailable(SettlementError):
    code = "settlement_unavailable"
    http_status = 503
    title = "Settlement is not running: trades are not accepted until it is"
    retry_after_s = 5

    def http_headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


class ChainError(SettlementError):
    code = "chain_error"
    http_status = 502
    title = "Chain rejected the transaction"


class ChainUnavailable(ChainError):
    code = "chain_unavailable"
    http_status = 503
    title = "Chain endpoint unavailable"


class InsufficientFunds(ChainError):
    code = "insufficient_funds"
    http_status = 422
    title = "Payer balance too low"


class InsufficientAllowance(ChainError):
    code = "insufficient_allowance"
    http_status = 422
    title = "Payer allowance to the escrow too low"


class Paused(ChainError):
    code = "paused"
    http_status = 409
    title = "Token or escrow is paused"


class Blacklisted(ChainError):
    code = "blacklisted"
    http_status = 422
    title = "A party is blacklisted by the token issuer"


class AlreadyLocked(ChainError):
    code = "already_locked"
    http_status = 409
    title = "Trade id already used on chain"


class NotLocked(ChainError):
    code = "not_locked"
    http_status = 409
    title = "Trade has no open lock on chain"


class DeadlineNotReached(ChainError):
    code = "deadline_not_reached"
    http_status = 409
    title = "Lock deadline has not passed yet"


class DeadlinePassed(ChainError):
    code = "deadline_passed"
    http_status = 409
    title = "Lock deadline has passed; only refund is possible"


class NotAuthorized(ChainError):
    code = "not_authorized"
    http_status = 403
    title = "Signer lacks the role for this call"


class SettlementBalanceShort(ChainError):
    code = "settlement_balance_short"
    http_status = 409
    title = "The settlement balance does not cover this"


class WindowAlreadySettled(ChainError):
    code = "window_already_settled"
    http_status = 409
    title = "This settlement window is already settled on chain"


class TransferShortfall(ChainError):
    code = "transfer_shortfall"
    title = "Token delivered less than the amount (fee-on-transfer)"


class TransactionFailed(ChainError):
    code = "transaction_failed"
    title = "Transaction reverted"


# --- ledger and audit ---------------------------------------------------------------------------


class LedgerError(SettlementError):
    code = "ledger_error"
    http_status = 500
    title = "Ledger invariant violated"


class UnbalancedEntry(LedgerError):
    code = "unbalanced_entry"
    title = "Journal entry does not balance to zero"


class ReorgTooDeep(LedgerError):
    code = "reorg_too_deep"
    title = "Chain reorganisation deeper than the indexer's reorg window"


class IndexerConflict(LedgerError):
    code = "indexer_conflict"
    title = "Another indexer moved the cursor concurrently"


class Conflict(SettlementError):
    code = "conflict"
    http_status = 409
    title = "Conflicts with an existing resource"


# --- setup: deployment, artifacts, toolchain ----------------------------------------------------


class SetupError(SettlementError):
    """Something the operator must install, build or deploy first; said in one line."""

    code = "setup_error"
    http_status = 503
    title = "The service is not set up"


class LedgerMismatch(SetupError):
    code = "ledger_mismatch"
    title = "The ledger mirrors another chain or deployment"


class ManifestMissing(SetupError):
    code = "manifest_missing"
    title = "No deployment manifest: run `python -m settlement.devnet up` first"


class ArtifactMissing(SetupError):
    code = "artifact_missing"
    title = "Contract not compiled: run `forge build` (make build)"


class AnchoringUnavailable(SetupError):
    code = "anchoring_unavailable"
    title = "This deployment has no journal anchoring (LedgerAnchor or its key)"


class ToolchainError(SetupError):
    code = "toolchain_missing"
    title = "A prerequisite tool is missing"


# --- hardening: configuration, connections, abuse, webhooks --------------------------------------
# Setup errors name the SETTLEMENT_* variable to fix, so every CLI can print them as one line.


class UnsafeConfiguration(SetupError):
    code = "unsafe_configuration"
    title = "Devnet defaults in force off the devnet"


class InvalidSetting(SetupError):
    code = "invalid_setting"
    title = "A setting has an invalid value"


class DatabaseUnavailable(SetupError):
    """Unreachable, or locked past SETTLEMENT_DATABASE_BUSY_TIMEOUT_S: a retry may succeed."""

    code = "database_unavailable"
    title = "Database unavailable"
    retry_after_s: ClassVar[int] = 2

    def http_headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


class TooManyFailedAuth(SettlementError):
    """Too many 401s from one client: the key is not even looked at until the window passes."""

    code = "too_many_failed_auth"
    http_status = 429
    title = "Too many failed authentication attempts"

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail, retry_after_s=retry_after_s)
        self.retry_after_s = retry_after_s


class DeliveryNotReplayable(Conflict):
    code = "delivery_not_replayable"
    title = "Only a parked or delivered webhook delivery can be replayed"
