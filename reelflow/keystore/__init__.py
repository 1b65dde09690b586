"""Secrets at rest under the master key: the seal format, and content keys sealed in it."""
