"""Pure domain rules: no web3, no SQL. Everything here is unit-testable without a chain or database."""
