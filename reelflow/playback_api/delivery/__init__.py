"""Delivery: what a player is handed.

The title cache, sessions and leases, entitlements, key policy, manifest filters and the
session MPD, the license proxy, viewer catalog reads, resume points and bandwidth hints.
"""
