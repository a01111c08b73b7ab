"""The mathematics of a loss landscape at one trained model, each function pure (the model is
never modified): curvature operators and their spectra (``curvature``), directions in weight
space (``directions``), slices and surfaces (``surfaces``), sharpness, noise and gradients
(``sharpness``) and paths between two models (``connectivity``).

May import: ``core``, ``learning``.
"""
