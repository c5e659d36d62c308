"""`python -m api` (or `make serve`): serve the API against the configured chain and database.

Reads the same SETTLEMENT_* settings as everything else; listens on loopback unless
SETTLEMENT_API_HOST says otherwise. Needs a running chain with a deployment manifest
(`python -m devnet up` on the devnet).
"""

from __future__ import annotations

import logging
import sys

from api.main import create_app
from api.server import ApiServer
from devnet.anvil import port_in_use
from settlement.config import DEVNET_OPERATOR_KEY, get_settings
from settlement.errors import SettlementError
from settlement.service import SettlementService


def main() -> int:
    settings = get_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if port_in_use(settings.api_host, settings.api_port):
        print(
            f"error: port {settings.api_port} on {settings.api_host} is taken; set SETTLEMENT_API_PORT",
            file=sys.stderr,
        )
        return 2
    try:
        service = SettlementService(settings)
    except SettlementError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        print("start the devnet first: `python -m devnet up` (or `make serve`, which does)", file=sys.stderr)
        return 2
    base_url = f"http://{settings.api_host}:{settings.api_port}"
    print(
        f"Settlement API on {base_url} (chain id {service.manifest.chain_id}, rpc {settings.rpc_url or service.manifest.rpc_url})"
    )
    print(f"API docs: {base_url}/docs")
    if settings.operator_key == DEVNET_OPERATOR_KEY:
        print(f"Operator key (devnet default; set SETTLEMENT_OPERATOR_KEY elsewhere): {settings.operator_key}")
    server = ApiServer(create_app(service), settings.api_host, settings.api_port, log_level="info", quiet=False)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        service.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
