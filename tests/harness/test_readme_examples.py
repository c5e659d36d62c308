"""The README's harness section shows exactly the files the plugin and wheel tests run."""

from __future__ import annotations

from settlement.config import PROJECT_ROOT
from tests.harness.outside_project import FAULTS_EXAMPLE, README_EXAMPLE


def test_the_readme_shows_the_examples_that_are_run() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert README_EXAMPLE in readme
    assert FAULTS_EXAMPLE in readme
