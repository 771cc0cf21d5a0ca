"""Primitive differentiable ops: each a ``Function`` with forward and backward side by side.

They work on arrays and import only ``autograd``, ``_backend``, ``errors`` and each other
(tests/test_imports.py checks it); argument checks and Tensors live in ``gridnn.functional``
above them. ``options.py`` holds the run-time choices (``gridnn.plain_ops()`` among them).
"""
