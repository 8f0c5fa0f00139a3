"""The HTTP service the Blender add-on talks to (``humancrafter serve``).

- ``security``: token, Host check, body size and time limits (ASGI middleware), loopback.
- ``http``: uvicorn's h11 protocol with a deadline for request headers.
- ``images``: upload checks (format by content, pixel limit, full decode).
- ``jobs``: data folder, result cache, bounded queue, one worker per device.
- ``worker``: each job runs in a worker process that keeps the pipeline warm.
- ``schemas``: typed request and response bodies.
- ``app``: the FastAPI routes under ``/v1``.
- ``main``: the ``serve`` command (pipelines, token, uvicorn).
"""
