"""Pure vocabulary every layer shares (no I/O), so workflows, media, packaging and the API
may all import it."""
