"""Writes the packaged contract artifacts (settlement/chain/contracts/*.json) from forge's output.

`make artifacts` (part of `make build`) runs it after `forge build`: every deployable contract
under contracts/src, found by pattern, so a new contract is picked up by re-running it. The
wheel ships these files, so an installed plugin deploys the contracts without forge.
"""

from __future__ import annotations

import json
import sys

from settlement.chain.artifacts import PACKAGED_DIR, ContractArtifact, source_artifacts


def packaged_text(artifact: ContractArtifact) -> str:
    """One stable rendering, so a rebuild that changes nothing changes no byte."""
    return json.dumps(artifact.packaged(), sort_keys=True, separators=(",", ":")) + "\n"


def main() -> int:
    artifacts = source_artifacts()
    if not artifacts:
        print("no compiled contracts under contracts/out: run forge build first (make build)", file=sys.stderr)
        return 2
    PACKAGED_DIR.mkdir(exist_ok=True)
    wanted = {f"{a.name}.json": packaged_text(a) for a in artifacts}
    for stale in PACKAGED_DIR.glob("*.json"):
        if stale.name not in wanted:
            stale.unlink()
    for filename, text in wanted.items():
        path = PACKAGED_DIR / filename
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
    print(f"{len(wanted)} contract artifact(s) in {PACKAGED_DIR}: {', '.join(sorted(wanted))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
