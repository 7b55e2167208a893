"""The fast path: events stream -> SQLite ``raw_traces`` -> CDC stream, plus the maintenance
process that checkpoints the WAL and trims the streams. Run with ``python -m blueplane_ingest``.
"""
