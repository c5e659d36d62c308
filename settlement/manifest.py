"""The deployment manifest: the one place Python learns contract addresses, ABIs and accounts.

devnet writes it after deploying; every other component only reads it. ABIs are copied into it
from forge's compile output at deploy time, so there is no hand-maintained ABI anywhere.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from settlement.errors import ManifestMissing


class DeployedContract(BaseModel):
    address: str
    abi: list[dict[str, Any]]
    enums: dict[str, list[str]] = {}  # enum name -> member names in order, from the compiler's AST


class Account(BaseModel):
    """A devnet account. private_key is present only for devnet keys the service may use."""

    address: str
    private_key: str | None = None


class DeploymentManifest(BaseModel):
    chain_id: int
    rpc_url: str
    deploy_block: int
    token: DeployedContract
    escrow: DeployedContract
    deployer: Account
    issuer: Account
    agent: Account
    brokers: list[Account]
    spare_accounts: list[Account] = []
    # Net settlement and journal anchoring (absent in manifests written before they existed).
    net: DeployedContract | None = None
    ledger_anchor: DeployedContract | None = None
    anchorer: Account | None = None

    @classmethod
    def load(cls, path: Path) -> DeploymentManifest:
        if not path.exists():
            raise ManifestMissing(f"no deployment manifest at {path}; run `python -m settlement.devnet up`")
        return cls.model_validate(json.loads(path.read_text()))

    def save(self, path: Path) -> None:
        """Written owner-only (0600) from the first byte: the manifest holds private keys.

        mkstemp creates the file 0600 whatever the umask, so it is never readable by others, not
        even for a moment; the rename then replaces any older manifest, whatever its mode was.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as tmp:
                tmp.write(json.dumps(self.model_dump(), indent=2))
            os.replace(tmp_name, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
