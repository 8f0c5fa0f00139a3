"""One runner per reconstruction mode; :mod:`humancrafter.pipeline` validates a job,
dispatches it to its mode's runner and makes the preview.

- :mod:`.base`: what every runner shares: the options of a job
  (:class:`~.base.ReconstructOptions`), the resources the pipeline loads once
  (:class:`~.base.ModeContext`) and the runner interface (:class:`~.base.ModeRunner`).
- :mod:`.prior`: ``prior``, the body prior posed from one photo, no network.

``fast``, ``multiview`` and ``full`` have no runner yet; the pipeline reports them as
unavailable with what they need (``docs/design.md``, "Pipeline modes").

Adding a mode is one new file and one line:

1. Write ``modes/<name>.py`` with a class that satisfies :class:`~.base.ModeRunner`::

       class FastRunner:
           name = "fast"
           stages = (("photo", 0.05), ("network", 0.40), ("splats", 0.05))

           def __init__(self, context: ModeContext) -> None: ...   # load weights here
           def available(self) -> str | None: ...     # None, or what is missing
           def check_images(self, images) -> None: ...  # raise InputError for bad input
           def run(self, images, options, step) -> ModeOutput: ...

   ``stages`` are the stages the runner reports, in order, each with its rough share of
   the whole job's time; the pipeline adds a last ``preview`` stage with the rest. ``run``
   calls ``step(stage)`` as each stage starts (that is also where a job is cancelled) and
   returns the splats, the seconds per stage and the warnings for the user.
2. Add the class to ``RUNNERS`` in :mod:`humancrafter.pipeline` (and drop the mode from
   the "not built yet" messages there).

Importing a runner module is cheap (no torch); heavy imports happen in ``__init__`` or
``run``.
"""
