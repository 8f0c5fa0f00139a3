"""Modules shared verbatim with the Blender add-on.

Rules for this folder: import only numpy and the standard library, and only relative
imports between its modules. The add-on reaches this folder through the symbolic link
``addon/portable`` (the zip built by ``make addon`` contains real copies), so there is
exactly one copy of the part taxonomy, of the splat file reader/writer and of the
splats -> closed mesh conversion (``mesh_convert``, used by the add-on's *Convert to
Mesh* and the backend's ``humancrafter mesh``) and of the rule that places a person in
metres (``placement``).
"""
