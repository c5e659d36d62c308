"""Moving trades through their lifecycle, one module per job.

- `intake`: validate, deduplicate (Idempotency-Key) and record a trade, with the on-chain
  pre-flight checks, before anything is written;
- `instructions`: what the parties ask for afterwards (confirm delivery, cancel);
- `cycle`: one settlement cycle: lock what is pending, release what is confirmed, refund what is
  cancelled or expired, as escrow batch calls;
- `submission`: sends a cycle's calls through the agent's window, falls back to single trades on
  a batch revert, and applies each outcome to the trades;
- `recovery`: after a crash or an unknown outcome, aligns every open trade with the escrow;
- `publisher`: trade status events for listeners (the API's event stream, webhooks).
"""
