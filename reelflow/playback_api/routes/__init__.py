"""HTTP routes of the playback API, one module per area; app.py mounts them."""
