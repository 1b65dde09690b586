"""HTTP routes of the playback API, one module per area; http/app.py mounts them.

Every API router carries the ``/v1`` prefix itself (rather than getting it at include
time), so a matched route's ``path`` is the full template that metrics and logs label by.

Two route styles live here: dependency-injected (the default) and the fast path of the hot
routes (playback start, session manifests, ClearKey licenses, the embedded origin, viewer
event batches), which read their parameters by hand. Why, and which routes, is written once,
in ``reelflow/playback_api/http/fast_params.py``. Route modules stay thin: what a route
answers is built in ``delivery/`` (manifests, sessions, keys) or ``studio/``.
"""

API_V1 = "/v1"
