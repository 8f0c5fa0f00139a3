"""The part-labelled parametric body (the "mannequin"): skeleton, surface, appearance,
ray caster, landmark fitting and pose sampler. See DESIGN.md, "The body prior"."""
