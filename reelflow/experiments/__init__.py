"""Experiments: deterministic assignment, exposures, per-viewer metrics and statistics.

Placed by the import contracts in pyproject.toml (reads events; the API uses it).
"""
