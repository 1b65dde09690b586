"""The ad-supported plan: campaigns, decisions (VAST/VMAP), break planning, manifest stitching,
and creative conditioning.

As with ``live``: decisions and stitching are the API's, creative conditioning (transcode
through the media pipeline) is the activities', and the import contracts in pyproject.toml
keep the API from reaching media through this package.
"""
