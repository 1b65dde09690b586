"""Authentication and signing.

Viewer JWTs and dev tokens (``auth``, ``auth_config``), revocations, the license and
studio-webhook checks, and the signed links and playback tokens (``signing``).
"""
