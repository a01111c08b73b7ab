"""The loss-landscape report suite, in layers: a module imports only its own layer and the ones
listed before it (type hints aside; ``tests/test_layout.py`` checks it).

- ``core``: shared mechanisms (errors, files, the cache, paths, escaping, progress, devices).
- ``learning``: datasets, models, evaluation and training one run.
- ``geometry``: the mathematics of a landscape at a trained model (curvature operators,
  directions, slices, sharpness, connectivity).
- ``probes``: the registry of measures a params file can ask for, with their settings and
  pure compute.
- ``verdicts``: statistics, declared thresholds and the claim checks.
- ``pipeline``: params, the job graph, the engines and the driver that fills the caches.
- ``analysis``: the cross-study synthesis and the dynamics of sharpness along training.
- ``reporting``: sections, tables, figures, findings, the sink and rendering.
- ``cli`` (``python -m landscape``) on top; ``clean_notebook`` stands alone (git's filter and
  JupyterLab's pre-save hook run it without the package).
"""
