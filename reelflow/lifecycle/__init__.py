"""The contracts between workflows and activities: dataclasses, typed activity definitions,
progress and search attributes. Imports nothing from reelflow but ``domain`` and ``config``."""
