"""Local anvil devnet: start/stop with persistent state, deploy the contracts, write the manifest."""
