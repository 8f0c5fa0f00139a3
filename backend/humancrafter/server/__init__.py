"""The HTTP service the Blender add-on talks to (``humancrafter serve``).

- ``security``: token, Host check, body limit (ASGI middleware), loopback check.
- ``images``: upload checks (format by content, pixel limit, full decode).
- ``jobs``: data folder, result cache, bounded queue, one worker per device.
- ``schemas``: typed request and response bodies.
- ``app``: the FastAPI routes under ``/v1``.
- ``main``: the ``serve`` command (pipelines, token, uvicorn).
"""
