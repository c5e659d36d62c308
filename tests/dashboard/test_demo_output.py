"""The demo's output rules: one coin format in its tables, one database file reused per run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.demo import DEMO_DATABASE, coins, fresh_demo_database


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("99538.362", "99,538.36"),
        ("140235.3", "140,235.30"),
        ("54070.45875", "54,070.46"),
        ("0.005", "0.00"),  # half-even: the same rule as the settlement amount
        ("1000000", "1,000,000.00"),
        ("-2.5", "-2.50"),
    ],
)
def test_coins_always_have_two_decimals(value: str, shown: str) -> None:
    assert coins(value) == shown


def test_each_run_reuses_one_database_and_removes_old_ones(tmp_path: Path) -> None:
    for name in ("demo-20260101-000000-1.db", "demo-20260102-000000-2.db", DEMO_DATABASE, f"{DEMO_DATABASE}-wal"):
        (tmp_path / name).write_text("old")
    (tmp_path / "settlement.db").write_text("keep")
    path = fresh_demo_database(tmp_path)
    assert path == tmp_path / DEMO_DATABASE and not path.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["settlement.db"]
