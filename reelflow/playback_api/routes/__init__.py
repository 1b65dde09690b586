"""HTTP routes of the playback API, one module per area; app.py mounts them.

Every API router carries the ``/v1`` prefix itself (rather than getting it at include
time), so a matched route's ``path`` is the full template that metrics and logs label by.
"""

API_V1 = "/v1"
