"""Data and models: the datasets and their stand-ins (``data``), the model zoo (``models``),
evaluation in a declared BatchNorm/dropout mode (``evaluation``) and training one run, pure
and resumable (``training``).

May import: ``core``.
"""
