"""The pages: the output sink of a notebook (``sink``), its sections (``sections``), tables and
sentences (``tables``), figures (``plotting``), findings (``findings``), executing and exporting
the notebooks (``render``) and checking that two renders hold the same numbers
(``same_numbers``).

May import: every layer below it.
"""
