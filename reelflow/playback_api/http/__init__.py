"""The HTTP shell of the playback API.

The app factory, the request context, problems (RFC 9457), body limits, fast-path
parameter parsing (why the hot routes parse by hand: ``fast_params``), observability,
readiness and the web mount.
"""
