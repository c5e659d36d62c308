"""A ledger knows the chain and deployment it mirrors, and refuses another one in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from settlement import errors
from settlement.cli import main
from settlement.service import SettlementService
from settlement.testing.devnet import Devnet
from tests.engine.conftest import make_settings

pytestmark = pytest.mark.chain


def test_a_ledger_refuses_a_reset_devnet(
    isolated_devnet: Devnet,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = SettlementService(make_settings(isolated_devnet, db_url, tmp_path), manifest=isolated_devnet.manifest)
    first.close()
    again = SettlementService(make_settings(isolated_devnet, db_url, tmp_path), manifest=isolated_devnet.manifest)
    again.close()  # the same deployment: fine

    reset = Devnet.start()  # what `python -m settlement.devnet reset && up` gives: same chain id, same addresses
    try:
        assert reset.manifest.escrow.address == isolated_devnet.manifest.escrow.address
        other = make_settings(reset, db_url, tmp_path / "other")
        with pytest.raises(errors.LedgerMismatch) as refused:
            SettlementService(other, manifest=reset.manifest)
        assert "SETTLEMENT_DATABASE_URL" in refused.value.detail and "devnet reset" in refused.value.detail

        # The CLI says the same, in one line, with exit code 2 (no traceback).
        for name, value in {
            "SETTLEMENT_RPC_URL": reset.rpc_url,
            "SETTLEMENT_DATABASE_URL": db_url,
            "SETTLEMENT_DEPLOYMENTS_DIR": str(other.deployments_dir),
            "SETTLEMENT_CHAIN_ID": str(reset.manifest.chain_id),
        }.items():
            monkeypatch.setenv(name, value)
        from settlement.config import get_settings

        get_settings.cache_clear()
        try:
            assert main(["reconcile"]) == 2
            assert main(["verify"]) == 2
        finally:
            get_settings.cache_clear()
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 2 and all(line.startswith("error: this ledger mirrors chain") for line in err)
    finally:
        reset.stop()
