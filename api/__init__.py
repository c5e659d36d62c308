"""The HTTP API (FastAPI): how brokers, operators and test suites drive settlement."""
