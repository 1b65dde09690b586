"""The one error configuration raises (its own module so settings and secrets share it)."""


class ConfigError(RuntimeError):
    """A setting is missing or invalid; the message names the variable to set."""
