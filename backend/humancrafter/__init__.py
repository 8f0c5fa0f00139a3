"""HumanCrafter: a single photo to semantic 3D Gaussians of a person.

The package is split so that a newcomer can find things:

- ``portable/``: pure numpy + standard library modules shared with the Blender add-on
  (part taxonomy, the splat file, config paths). Nothing in there may import torch.
- ``cameras``, ``render``: the one camera convention and the Gaussian renderer.
- ``body/``: the part-labelled parametric body (the prior) and its ray caster.
- ``photo``: the photo front-end (mask, crop, landmarks).
- ``pipeline``: the reconstruction modes behind one function.
- ``server``: the HTTP service; ``cli``: the ``humancrafter`` command.

Importing the package itself is cheap: no torch is loaded here.
"""

__version__ = "0.1.0"
