"""On-device models: LiteRT runtime, manifest, shared features, registry, training recipes.

See models/README.md. Nothing here imports TensorFlow except ``models.training``
(and only inside the recipes' ``main``).
"""
