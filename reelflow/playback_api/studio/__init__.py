"""Studio ingest: the webhook body checks and the studio answers.

The routes themselves are in ``routes/studio.py``.
"""
