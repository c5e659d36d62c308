"""SQL storage (sqlmodel): participants, trades, the double-entry journal, indexer state, tx journal."""
