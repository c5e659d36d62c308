"""`python -m settlement.api` (or `make serve`): serve the API against the configured chain and database.

Reads the same SETTLEMENT_* settings as everything else; listens on loopback unless
SETTLEMENT_API_HOST says otherwise. Needs a running chain with a deployment manifest
(`python -m settlement.devnet up` on the devnet). Off the devnet it refuses to start while a devnet default
is in force (settlement/safety.py).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys

from settlement.entrypoint import CommandHelpFormatter, run_command

COMMANDS = {"serve": "serve the HTTP API on SETTLEMENT_API_HOST:SETTLEMENT_API_PORT (the default)"}


def main(argv: list[str] | None = None) -> int:
    """Errors the operator can fix are one line and exit code 2 (settlement/entrypoint.py)."""
    return run_command(lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m settlement.api", description="The settlement HTTP API.", formatter_class=CommandHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", metavar="command")
    for name, help_text in COMMANDS.items():
        commands.add_parser(name, help=help_text, description=help_text, formatter_class=CommandHelpFormatter)
    parser.parse_args(argv)
    return serve()


def serve() -> int:
    # Imported here, so `--help` answers without loading the whole stack.
    from settlement.api.gc_tuning import tune_for_serving
    from settlement.api.main import create_app
    from settlement.api.server import ApiServer, ServerThread
    from settlement.api.starting import starting_app
    from settlement.config import DEVNET_OPERATOR_KEY, get_settings
    from settlement.devnet.anvil import port_in_use
    from settlement.manifest import DeploymentManifest
    from settlement.redaction import redact_url
    from settlement.service import SettlementService
    from settlement.startup import with_retries

    settings = get_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if port_in_use(settings.api_host, settings.api_port):
        print(
            f"error: port {settings.api_port} on {settings.api_host} is taken; set SETTLEMENT_API_PORT",
            file=sys.stderr,
        )
        return 2
    manifest = DeploymentManifest.load(settings.manifest_path())

    def ready_service() -> SettlementService:
        """Built and recovered: every step that needs the chain or the database, retried as one."""
        service = SettlementService(settings, manifest)
        try:
            service.recover()
        except BaseException:
            service.close()
            raise
        return service

    # A chain or database briefly unreachable at start is waited out (SETTLEMENT_STARTUP_RETRY_S),
    # with a stand-in answering 503 (health: degraded) on the port meanwhile.
    stand_in: list[ServerThread] = []

    def serve_degraded(what: str) -> None:
        if not stand_in:
            app = starting_app(manifest.chain_id, what)
            stand_in.append(ServerThread(app, settings.api_host, settings.api_port).start())

    try:
        service = with_retries(
            ready_service,
            budget_s=settings.startup_retry_s,
            rpc_url=settings.rpc_url or manifest.rpc_url,
            database_url=settings.resolved_database_url(),
            on_outage=serve_degraded,
        )
    finally:
        for server_thread in stand_in:
            server_thread.stop()
    try:
        base_url = f"http://{settings.api_host}:{settings.api_port}"
        rpc_url = redact_url(settings.rpc_url or service.manifest.rpc_url)
        print(f"Settlement API on {base_url} (chain id {service.manifest.chain_id}, rpc {rpc_url})")
        print(f"API docs: {base_url}/docs")
        if settings.operator_key == DEVNET_OPERATOR_KEY:
            print(f"Operator key (devnet default; set SETTLEMENT_OPERATOR_KEY elsewhere): {settings.operator_key}")
        sys.stdout.flush()
        server = ApiServer(create_app(service), settings.api_host, settings.api_port, log_level="info", quiet=False)
        tune_for_serving()
        with contextlib.suppress(KeyboardInterrupt):
            server.run()
        if not server.started:
            print("error: the API did not start (see the log above)", file=sys.stderr)
            return 2
    finally:
        service.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
