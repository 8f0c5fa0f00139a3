"""One runner per reconstruction mode; :mod:`humancrafter.pipeline` validates a job,
dispatches it to its mode's runner and makes the preview when the job asks for one.

- :mod:`.base`: what every runner shares: the options of a job
  (:class:`~.base.ReconstructOptions`), the resources the pipeline loads once
  (:class:`~.base.ModeContext`) and the runner interface (:class:`~.base.ModeRunner`).
- :mod:`.prior`: ``prior``, the body prior posed from one photo, no network.
- :mod:`.network`: ``fast`` (one photo) and ``multiview`` (2-4 views), the network.
- :mod:`.full`: ``full``, SV3D views guided by the body prior, then the network.

A runner that cannot run here (no weights, no CUDA) says what it needs in ``available``;
the pipeline reports it (``docs/design.md``, "Pipeline modes").

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
   the whole job's time; the pipeline adds a last ``preview`` stage with the rest when the
   job asks for a preview, and otherwise scales the shares up to fill the job. ``run``
   calls ``step(stage)`` as each stage starts (that is also where a job is cancelled) and
   returns the splats, the seconds per stage and the warnings for the user.
2. Add the class to ``RUNNERS`` in :mod:`humancrafter.pipeline`.

Importing a runner module is cheap (no torch); heavy imports happen in ``__init__`` or
``run``.
"""
