"""`python -m settlement verify-proof`: a counterparty checks a trade's window proof against the chain.

Why a command of its own: the point of a proof is that it needs no trust in us. It reads only
the JSON the API returned (GET /v1/trades/{id}/proof), an RPC endpoint and the SettlementNet
address; the ABI ships with the package. Exit 0: included; 1: not; 2: could not check.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from settlement.cli import EXIT_FINDINGS, EXIT_OK


def verify_proof_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m settlement verify-proof",
        description="Check a trade's Merkle proof against SettlementNet on chain (exit 0 if included).",
    )
    parser.add_argument("proof", help="the JSON from GET /v1/trades/{id}/proof (a file, or - for stdin)")
    parser.add_argument("--rpc-url", required=True, help="any JSON-RPC endpoint of the chain")
    parser.add_argument("--contract", help="SettlementNet's address (default: the one in the proof JSON)")
    args = parser.parse_args(argv)

    from settlement.chain.artifacts import load_artifact
    from settlement.chain.client import connect
    from settlement.chain.merkle import TradeProof
    from settlement.chain.net_settlement import check_trade_proof

    text = sys.stdin.read() if args.proof == "-" else Path(args.proof).read_text()
    data = json.loads(text)
    contract = args.contract or data.get("contract")
    if not contract:
        parser.error("no --contract and no 'contract' in the proof JSON")
    proof = TradeProof.from_json(data)
    check = check_trade_proof(connect(args.rpc_url), contract, load_artifact("SettlementNet").abi, proof)
    verdict = "INCLUDED" if check.ok else "NOT PROVEN"
    print(
        f"{verdict}: trade 0x{proof.leaf.chain_trade_id.hex()} in window {proof.window_id} "
        f"(window settled: {check.window_settled}, root matches chain: {check.root_matches}, "
        f"proof leads to root: {check.proof_leads_to_root}, contract verifyTrade: {check.contract_says_included})"
    )
    return EXIT_OK if check.ok else EXIT_FINDINGS
