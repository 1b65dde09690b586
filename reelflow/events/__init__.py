"""Viewer events: the typed schema, the log (Redis Streams), the Parquet writer, DuckDB queries.

A room set before it is furnished: the import contracts in pyproject.toml already place it
(above the stores, below experiments, recommendations, live and ads), so the code that moves
in cannot point an arrow the wrong way.
"""
