"""Test harness: a throwaway devnet and (in plugin.py) pytest fixtures for other projects."""
