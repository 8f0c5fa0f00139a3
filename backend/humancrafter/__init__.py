"""HumanCrafter: a single photo to semantic 3D Gaussians of a person.

The package is split so that a newcomer can find things (the full map, with the
conventions, is ``docs/design.md``, "Where things are"):

- ``portable/``: pure numpy + standard library modules shared with the Blender add-on
  (part taxonomy, the splat file, the service's address and token file, splats -> closed
  mesh). Nothing in there may import torch.
- ``errors``: the errors a reconstruction raises on purpose; imports nothing else here.
- ``cameras``, ``render``: the one camera convention and the Gaussian renderer.
- ``body/``: the part-labelled parametric body (the prior) and its ray caster.
- ``photo``: the photo front-end (mask, crop, landmarks); ``prior``: the ``prior``
  reconstruction.
- ``modes/``: one runner per reconstruction mode; ``pipeline``: validates a job,
  dispatches it to its mode and makes the preview.
- ``server``: the HTTP service; ``cli``: the ``humancrafter`` command.

Importing the package itself is cheap: no torch is loaded here.
"""

__version__ = "0.1.0"
