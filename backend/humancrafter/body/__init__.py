"""The part-labelled parametric body (the "mannequin") and what is built on it: skeleton,
surface, appearance, ray caster, landmark fitting and pose sampler.
:mod:`.mannequin` is the front door (it lists the modules behind it); see
``docs/design.md``, "The body prior"."""
