"""Adapter to the EVM chain: web3.py, local signing, revert decoding. No domain rules here."""
