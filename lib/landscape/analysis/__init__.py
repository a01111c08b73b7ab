"""Analyses across the studies' runs: every model against generalization (``synthesis``) and
sharpness along training (``dynamics``).

May import: ``core``, ``verdicts``; params only for type hints.
"""
