"""Cross-border broker settlement in a USDT-like stablecoin: escrow on chain, audit ledger in SQL."""
