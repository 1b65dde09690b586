"""Live channels: channel state the API reads, and the real-time encode and package that only
activities run.

The import contracts in pyproject.toml keep the two apart: the API may import what here
holds channel state, never a module that reaches ``reelflow.media`` or ``reelflow.packaging``
(import-linter follows indirect imports), so the real-time encode lives in its own module.
"""
