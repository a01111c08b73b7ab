"""The study's claims, each with a verdict computed from this report's seeds.

A claim is listed in the params file under ``reference.claims`` either as plain text (not
checked yet: verdict *pending*) or as a mapping that names the check that decides it; its
arguments name configurations (``runs`` entries), each trained with several seeds::

    - text: "Model B converges faster than Model A."
      check: converges_faster
      args: {faster: B, slower: A}

``parse`` validates that list up front (an unknown check, argument, threshold or configuration
is a ParamsError naming it; ``params.load_params`` calls it), :func:`design` says before any
training which claims the seeds cannot decide, and :func:`judge` runs every check whose
evidence is available and returns :class:`Claim` records.

Evidence is structured. A check returns the :class:`Comparison` records its claim's text calls
for, one per stated direction or size: what is compared, the groups with their sizes and
summaries, the effect with its 95% interval and the scale it is on, the claimed side of a declared
threshold (``landscape.verdicts.thresholds``), the method, the p-value of the test the interval inverts,
and the comparison's verdict before and after the multiplicity correction. Text is written from
these records only at the edge (the claims table, findings, the index headline); nothing reads
prose back.

Rules (:data:`RULE`, printed in every report):

- a comparison is *supported* when its interval lies wholly on the claimed side of its threshold,
  *contradicted* when wholly on the other side, else *inconclusive*; *undecidable* when a group
  has fewer than ``stats.MIN_UNITS`` independent units (a barrier: fewer than
  :data:`MIN_PAIRS` disjoint pairs) or when no outcome of its units could decide it (a share of 3
  seeds can never lie above one half at 95%);
- a claim's parts combine: *supported* when all are, *mixed* when some are supported and some
  contradicted, *contradicted* when some are and none is supported, *undecidable* when a part is
  and none is contradicted, else *inconclusive*;
- a report's comparisons are one family: decisions use Holm's correction (:data:`CORRECTION`),
  and both the raw and the adjusted verdicts are kept;
- positive quantities (λ, sharpness, barriers, flatness, relative changes) are compared on the log
  scale (geometric means and their ratio);
- a seed that diverged or failed is left out of checks that do not score divergence (the claim
  says so); checks that score it say how;
- where a check can also be decided with the study's own method (its one-mini-batch power
  iteration, SAM's single first-order step, unnormalized random slices, relative weight noise,
  BN statistics interpolated), the claim carries that verdict too, with what changes between the
  methods (:class:`StudyMethod`).

The package: ``records`` (the evidence and its words), ``deciding`` (one comparison, and the
:class:`Check` record), ``checks`` (the training-history checks), ``spec`` (the registry,
parsing, design, evaluation); its namespace is the API the rest of the suite uses. A check that
reads a probe's frame lives in that measure's home (``probes.<name>.checks``, named by
``Probe.checks``), and :func:`registry` collects every check.
"""
from __future__ import annotations

from .records import (ABOVE, BELOW, CONTRADICTED, CORRECTION, CORRECTION_WHY, Claim, Comparison, DECIDED, DEPENDS,
                      Group, INCONCLUSIVE, MIN_PAIRS, MIN_TAU_UNITS, MIXED, OURS, PENDING, RULE, STUDY, SUPPORTED,
                      StudyMethod, UNDECIDABLE, VERDICTS, WITHIN, combine, counts, summary_sentence, table,
                      verdict_words)
from .deciding import (Check, Context, MissingEvidence, compare, config_group, measured, one_group, ordered, per_seed,
                       share, summary, two_groups)
from .checks import converges_faster, diverges, does_not_learn, generalizes_better, main_effect_larger
from .spec import ClaimSpec, adjust, design, judge, parse, registry

__all__ = ["ABOVE", "BELOW", "CONTRADICTED", "CORRECTION", "CORRECTION_WHY", "Claim", "Comparison", "DECIDED",
           "DEPENDS", "Group", "INCONCLUSIVE", "MIN_PAIRS", "MIN_TAU_UNITS", "MIXED", "OURS", "PENDING", "RULE",
           "STUDY", "SUPPORTED", "StudyMethod", "UNDECIDABLE", "VERDICTS", "WITHIN", "combine", "counts",
           "summary_sentence", "table", "verdict_words", "Check", "Context", "MissingEvidence", "compare",
           "config_group", "measured", "one_group", "ordered", "per_seed", "share", "summary", "two_groups",
           "converges_faster", "diverges", "does_not_learn", "generalizes_better", "main_effect_larger",
           "ClaimSpec", "adjust", "design", "judge", "parse", "registry"]
