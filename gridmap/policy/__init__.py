"""One source per policy: ids, privacy, JSON-safe values."""
