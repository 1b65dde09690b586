"""Secrets at rest under the master key: the seal format and key administration for ops."""
