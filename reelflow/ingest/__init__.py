"""Bringing a studio's master in: fetching a source from a path, a URL or the object store."""
