"""What chapters derive from stored study tables: summaries and readings (pure pandas/numpy, no training)."""
