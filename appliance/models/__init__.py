"""The box's model registry: which model versions are installed and which one
holds the active/shadow slot, in the box database, with the ``werkvloer model``
command. The model library itself (manifest, runtime, features) is the
top-level ``models`` package, which knows nothing of the box."""
