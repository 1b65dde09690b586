"""Recommendations: models, training, offline evaluation and row building.

Placed by the import contracts in pyproject.toml (reads events; the API serves its rows).
"""
