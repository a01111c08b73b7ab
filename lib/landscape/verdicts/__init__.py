"""Statistics and claims: intervals, tests and multiplicity corrections (``stats``), the declared
thresholds (``thresholds``) and the claim checks that turn results into comparison records and
verdicts (``claims``).

May import: ``core``, ``learning`` (how a run ended); params only for type hints.
"""
