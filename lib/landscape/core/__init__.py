"""Shared mechanisms, one home each: errors shown as one line (``errors``), every file written
(``files``: atomic, never through a link), the cache on disk (``store``), where the repository
is (``paths``), how outside text reaches a page (``escaping``), progress lines (``progress``),
devices and determinism (``runtime``) and the base of every settings model (``schema``).

May import: nothing else of the package.
"""
