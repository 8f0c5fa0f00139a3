"""The errors a reconstruction raises on purpose. This module imports nothing else of the
package, so that every module (the photo front-end, the mode runners, the pipeline, the
service) can use them without importing one another."""

from __future__ import annotations


class InputError(ValueError):
    """The input cannot be reconstructed (not a person, too small, ...); the message says
    why in words an artist understands. The service answers it with a 4xx."""


class Cancelled(Exception):
    """Raised by :meth:`humancrafter.pipeline.Pipeline.run` when ``should_cancel`` returned
    True (between two stages)."""
