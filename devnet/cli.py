"""`python -m settlement.devnet up | down | status | deploy | reset`.

`up` starts anvil detached (state in devnet/state/, dumped on `down` and loaded on the next
`up`), deploys the contracts if the chain does not already have them, and writes the manifest
devnet/deployments/<chain_id>.json that all Python code reads.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from settlement.chain.client import ChainClient, connect
from settlement.config import Settings, get_settings
from settlement.devnet.anvil import AnvilConfig, AnvilProcess, rpc_answers, stop_pid
from settlement.devnet.clock import record_clock, restore_clock
from settlement.devnet.deploy import deploy
from settlement.entrypoint import CommandHelpFormatter, run_command
from settlement.manifest import DeploymentManifest
from settlement.money import format_coins


def _pid_file(settings: Settings) -> Path:
    return settings.devnet_state_dir / "anvil.pid"


def _running_pid(settings: Settings) -> int | None:
    pid_file = _pid_file(settings)
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().strip() or 0)
    rpc_url = f"http://{settings.anvil_host}:{settings.anvil_port}"
    return pid if pid and rpc_answers(rpc_url) else None


def _contracts_present(manifest_path: Path, rpc_url: str) -> bool:
    if not manifest_path.exists():
        return False
    manifest = DeploymentManifest.load(manifest_path)
    w3 = connect(rpc_url)
    code = w3.eth.get_code(w3.to_checksum_address(manifest.escrow.address))
    return len(code) > 0 and manifest.rpc_url == rpc_url


def up(settings: Settings) -> DeploymentManifest:
    settings.devnet_state_dir.mkdir(parents=True, exist_ok=True)
    config = AnvilConfig(
        host=settings.anvil_host,
        port=settings.anvil_port,
        chain_id=settings.chain_id,
        mnemonic=settings.devnet_mnemonic,
        state_file=settings.devnet_state_dir / "anvil-state.json",
        log_file=settings.devnet_state_dir / "anvil.log",
    )
    if _running_pid(settings) is None:
        anvil = AnvilProcess(config, detached=True).start()
        assert anvil.process is not None
        _pid_file(settings).write_text(str(anvil.process.pid))
        print(f"anvil started on {config.rpc_url} (pid {anvil.process.pid}, chain id {settings.chain_id})")
        restored = restore_clock(connect(config.rpc_url), settings.devnet_state_dir)
        if restored is not None:
            print(f"chain clock kept monotonic: a block mined at {restored}, after the time recorded at `down`")
    else:
        print(f"anvil already running on {config.rpc_url}")
    manifest_path = settings.manifest_path()
    if _contracts_present(manifest_path, config.rpc_url):
        manifest = DeploymentManifest.load(manifest_path)
        print(f"contracts already deployed (state loaded): manifest {manifest_path}")
    else:
        manifest = deploy(config.rpc_url, settings.devnet_mnemonic)
        manifest.save(manifest_path)
        print(f"deployed token {manifest.token.address} and escrow {manifest.escrow.address}")
        print(f"manifest written to {manifest_path}")
    return manifest


def down(settings: Settings) -> None:
    pid = _running_pid(settings)
    if pid is None:
        print("devnet is not running")
        return
    record_clock(connect(f"http://{settings.anvil_host}:{settings.anvil_port}"), settings.devnet_state_dir)
    stop_pid(pid)
    _pid_file(settings).unlink(missing_ok=True)
    print(f"anvil stopped (pid {pid}); state saved in {settings.devnet_state_dir}")


def status(settings: Settings) -> int:
    rpc_url = f"http://{settings.anvil_host}:{settings.anvil_port}"
    if not rpc_answers(rpc_url):
        print(f"devnet: not running ({rpc_url})")
        return 1
    print(f"devnet: running at {rpc_url}")
    manifest_path = settings.manifest_path()
    if not manifest_path.exists():
        print("manifest: none (run `python -m settlement.devnet deploy`)")
        return 1
    manifest = DeploymentManifest.load(manifest_path)
    chain = ChainClient.from_manifest(manifest, rpc_url)
    print(f"chain id {manifest.chain_id}, block {chain.block_number()}, deployed at block {manifest.deploy_block}")
    print(f"token  {manifest.token.address}")
    print(f"escrow {manifest.escrow.address} (locked {format_coins(chain.total_locked())})")
    for index, broker in enumerate(manifest.brokers):
        print(f"broker[{index}] {broker.address} balance {format_coins(chain.balance_of(broker.address))}")
    return 0


def deploy_command(settings: Settings) -> None:
    rpc_url = f"http://{settings.anvil_host}:{settings.anvil_port}"
    manifest = deploy(rpc_url, settings.devnet_mnemonic)
    manifest.save(settings.manifest_path())
    print(f"deployed token {manifest.token.address} and escrow {manifest.escrow.address}")


def reset(settings: Settings, *, ledger: bool | None = None) -> None:
    """Forget the devnet; and the local ledger, which would mirror a chain that no longer exists.

    ledger=None asks on a terminal and otherwise says how to remove it: the service refuses to
    run on a ledger of another deployment, so keeping it is never silently wrong."""
    down(settings)
    shutil.rmtree(settings.devnet_state_dir, ignore_errors=True)
    settings.manifest_path().unlink(missing_ok=True)
    print("devnet state and manifest removed")
    if settings.database_url:
        print("the ledger at SETTLEMENT_DATABASE_URL still mirrors the old chain: reset it yourself or use a new one")
        return
    database = settings.data_dir / "settlement.db"
    if not database.exists():
        return
    if ledger is None and sys.stdin.isatty():
        answer = input(f"also remove the local ledger {database} (it mirrors the old chain)? [y/N] ")
        ledger = answer.strip().lower() in ("y", "yes")
    if ledger:
        for path in (database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")):
            path.unlink(missing_ok=True)
        print(f"local ledger {database} removed")
    else:
        print(
            f"kept the local ledger {database}: it mirrors the old chain; remove it with `python -m settlement.devnet reset --ledger`"
        )


COMMANDS = {
    "up": "start anvil (state in devnet/state/), deploy if needed, write the manifest",
    "down": "stop anvil; its state is dumped and loaded by the next `up`",
    "status": "block, addresses, broker balances; exit 1 if the devnet is not running",
    "deploy": "deploy the contracts again on the running anvil, rewrite the manifest",
    "reset": "stop anvil, forget its state and manifest (--ledger: and the local ledger, without asking)",
}


def main(argv: list[str] | None = None) -> int:
    """Errors the operator can fix are one line and exit code 2 (settlement/entrypoint.py)."""
    return run_command(lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m settlement.devnet",
        description="The local devnet: anvil and the contracts.",
        formatter_class=CommandHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, help_text in COMMANDS.items():
        command = commands.add_parser(name, help=help_text, description=help_text, formatter_class=CommandHelpFormatter)
        if name == "reset":
            command.add_argument("--ledger", action="store_true", default=None, help="also remove the local ledger")
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.command == "up":
        up(settings)
    elif args.command == "down":
        down(settings)
    elif args.command == "status":
        return status(settings)
    elif args.command == "deploy":
        deploy_command(settings)
    else:
        reset(settings, ledger=args.ledger)
    return 0
