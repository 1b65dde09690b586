"""Names that look unused to vulture but are called by a framework (see unused_code.py).

Each line names the attribute the way vulture matches it (by name), with the caller.
"""

# rq calls a failure callback with (job, connection, type, value, traceback) by position.
traceback  # reelflow/jobs/webhooks.py on_delivery_failure

# io.RawIOBase's protocol: BufferedReader and the minio SDK call readable() on the stream.
_.readable  # reelflow/storage/s3.py _ExactLength

# temporalio's Interceptor protocol: the worker calls intercept_activity for each activity.
_.intercept_activity  # reelflow/activities/input_cache.py InputPinInterceptor

# FastAPI calls a route by its decorator; unused_code.py lists no "@*.patch" (the first PATCH).
edit_experiment  # reelflow/playback_api/routes/admin_experiments.py, PATCH .../{key}

# uvicorn and granian import it by name (--factory) to serve the API in the bench's server
# comparison.
json_logged_api  # bench/playback_api.py server_command
