"""The `reelflow` command line (Typer): one module per command group; `app` is the root."""
