"""From params to results: the validated params of a report (``params``), its graph of jobs
(``jobs``), the engines that run them (``engines``: local, processes, Ray) and the driver that
reads and fills the caches and gathers the results (``driver``).

May import: ``core``, ``learning``, ``geometry``, ``probes``, ``verdicts``.
"""
