"""The one settings object. Every knob is an env var with the SETTLEMENT_ prefix.

Defaults are safe for the local devnet, so nothing needs configuring to run the demo.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from settlement.domain.fx import FxLimits

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# A source checkout keeps devnet state and data beside the code (ignored by git). An installed
# package lives in site-packages, which is no place to write: it keeps them under the working
# directory, in .settlement/ (a project using the pytest plugin never writes there either: its
# fixtures use pytest's temporary folders).
SOURCE_CHECKOUT = (PROJECT_ROOT / "pyproject.toml").is_file()


def state_root() -> Path:
    """Where devnet state, deployments and data go by default (see SOURCE_CHECKOUT)."""
    return PROJECT_ROOT if SOURCE_CHECKOUT else Path.cwd() / ".settlement"


# Anvil's well-known development mnemonic: its keys are public, which is the point on a devnet.
DEVNET_MNEMONIC = "test test test test test test test test test test test junk"
DEVNET_OPERATOR_KEY = "devnet-operator-key"
DEVNET_CHAIN_ID = 31337  # anvil's: automine, one block per transaction, reorgs only on request
# Blocks that bury a receipt or event before it counts, off the devnet: Ethereum's customary
# margin (reorgs deeper than a few blocks are rare; finality comes later still).
CONFIRMATION_DEPTH_OFF_DEVNET = 12


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SETTLEMENT_", extra="ignore")

    # --- chain
    rpc_url: str | None = Field(
        default=None, description="EVM JSON-RPC endpoint; defaults to the one in the deployment manifest."
    )
    chain_id: int = DEVNET_CHAIN_ID
    deployments_dir: Path = Field(default_factory=lambda: state_root() / "devnet" / "deployments")
    confirmation_depth: int | None = Field(
        default=None,
        ge=0,
        description="Blocks a receipt/event must be buried under; unset: 0 on the devnet, else 12 (see README).",
    )
    receipt_poll_s: float = Field(default=0.005, gt=0)
    receipt_timeout_s: float = Field(default=60.0, gt=0)
    in_flight_txs_max: int = Field(default=32, ge=1, le=256)
    # The escrow's MAX_BATCH. 200 rather than 100: half the blocks and batch steps for the same
    # trades (gross bench ~500 -> ~555 trades/s); a lock batch's fixed gas limit is then ~24M.
    batch_trades_max: int = Field(default=200, ge=1, le=200)
    indexer_chunk_blocks: int = Field(default=2_000, ge=1, le=100_000)
    reorg_window_blocks: int = Field(default=64, ge=1)
    # Every this many cycles (and at the next one after a reorg) LOCKED trades are read back from
    # the escrow, at most realign_trades_max per cycle, so divergence heals without a failed call.
    realign_every_cycles: int = Field(default=10, ge=1)
    realign_trades_max: int = Field(default=500, ge=1, le=10_000)

    # --- devnet
    anvil_host: str = "127.0.0.1"
    anvil_port: int = 8545
    devnet_mnemonic: str = DEVNET_MNEMONIC
    devnet_state_dir: Path = Field(default_factory=lambda: state_root() / "devnet" / "state")
    anvil_bin: Path | None = Field(
        default=None, description="The anvil binary; else `anvil` on PATH, else the npm package in node_modules."
    )

    # --- storage
    data_dir: Path = Field(default_factory=lambda: state_root() / "data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; defaults to a SQLite file under data_dir."
    )
    database_busy_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=3_600,
        description="How long a statement waits for a lock (SQLite's busy timeout, PostgreSQL's lock_timeout) "
        "before the request is answered 503 database_unavailable.",
    )

    # --- custody
    custodial_devnet_keys: bool = Field(
        default=True, description="Sign approvals with the manifest's devnet broker keys (devnet only)."
    )

    # --- settlement policy
    default_settlement_window_s: int = Field(default=86_400, ge=60)
    # An alleged trade nobody affirms lapses after this long (a few hours, like a trading day's
    # affirmation cut-off); it then needs a new submission.
    match_window_s: int = Field(default=4 * 3_600, ge=1)
    # FX rates: how far in the future an as_of may be (clock skew), how old a rate may be to price
    # a trade, and how far a new rate may move from the previous one without force=true.
    fx_clock_skew_max_s: int = Field(default=60, ge=0)
    fx_rate_age_max_s: int = Field(default=86_400, ge=1)
    fx_rate_jump_max_ratio: Decimal = Field(default=Decimal("0.10"), gt=0)
    sweep_interval_s: float = Field(default=2.0, gt=0)
    # Net mode (settlement/processing/windows.py). A trade's mode, when its submitter names none,
    # is this one: gross unless configured, so existing clients keep per-trade escrow locks.
    default_settlement_mode: Literal["gross", "net"] = "gross"
    window_length_s: float = Field(
        default=5.0,
        gt=0,
        le=86_400,
        description="A net settlement window with trades closes this long after it opened.",
    )
    window_trades_max: int = Field(
        default=10_000,
        ge=1,
        le=1_000_000,
        description="A net settlement window closes at the worker's next cycle once it holds this many trades.",
    )
    # How often the worker anchors the journal's head on chain (net mode also anchors after each
    # window settles). Everything up to the last anchor is then tamper-evident.
    anchor_interval_s: float = Field(default=300.0, gt=0)

    # --- settlement worker: one per ledger, by lease (settlement/ledger/worker_lease.py)
    worker_enabled: bool = Field(
        default=True,
        description="Run a settlement worker (active while it holds the ledger's lease); false: serve the API only.",
    )
    worker_lease_ttl_s: float = Field(
        default=5.0,
        ge=0.5,
        le=300.0,
        description="A worker whose heartbeat is older than this counts as dead (SQLite: its lease is taken over).",
    )

    # --- startup: how long a briefly unreachable chain or database is retried before giving up
    startup_retry_s: float = Field(default=60.0, ge=0, le=3_600)

    # --- API
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    operator_key: str = DEVNET_OPERATOR_KEY
    body_max_bytes: int = Field(default=64 * 1024, ge=1024)
    # How long an Idempotency-Key on a money-moving POST is remembered (then purged; reusing it
    # after that starts a new operation). A day covers any client's retry policy.
    idempotency_key_ttl_s: int = Field(default=86_400, ge=1)
    webhook_url: str | None = None
    webhook_secret: str = "devnet-webhook-secret"

    # --- hardening: failed-auth throttle, webhook outbox
    auth_failures_max: int = Field(
        default=20, ge=1, description="Failed authentications from one client IP per window before it gets 429."
    )
    auth_failures_window_s: float = Field(default=60.0, gt=0)
    webhook_retry_period_s: float = Field(
        default=86_400.0, gt=0, description="How long a webhook delivery is retried before it is parked."
    )
    webhook_retry_delay_first_s: float = Field(default=1.0, gt=0, description="Doubles after each failed attempt.")
    webhook_retry_delay_max_s: float = Field(default=3_600.0, gt=0)
    webhook_timeout_s: float = Field(default=5.0, gt=0)

    def confirmation_depth_on(self, chain_id: int) -> int:
        """The confirmation depth in force on the chain the RPC reports: the setting if given, else
        0 on the instant-mining devnet (a reorg happens there only when a test asks for one) and
        CONFIRMATION_DEPTH_OFF_DEVNET anywhere else, where a reorg can drop a block we booked."""
        if self.confirmation_depth is not None:
            return self.confirmation_depth
        return 0 if chain_id == DEVNET_CHAIN_ID else CONFIRMATION_DEPTH_OFF_DEVNET

    def fx_limits(self) -> FxLimits:
        """The FX rules' limits (domain/fx.py), read from these settings in one place."""
        return FxLimits(self.fx_clock_skew_max_s, self.fx_rate_age_max_s, self.fx_rate_jump_max_ratio)

    def resolved_database_url(self) -> str:
        """SQLite file by default; the folder is created on first use."""
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.data_dir / 'settlement.db'}"

    def manifest_path(self) -> Path:
        return self.deployments_dir / f"{self.chain_id}.json"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


# --- hardening: naming settings in messages


def env_var(field: str) -> str:
    """The environment variable behind a Settings field, as messages name it (SETTLEMENT_API_PORT)."""
    return f"{Settings.model_config.get('env_prefix', '')}{field}".upper()
