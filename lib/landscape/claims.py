"""The study's claims, each with a verdict computed from this report's seeds.

A claim is listed in the params file under ``reference.claims`` either as plain text (not
checked yet: verdict *pending*) or as a mapping that names the check that decides it; its
arguments name configurations (``runs`` entries), each trained with several seeds::

    - text: "Model B converges faster than Model A."
      check: converges_faster
      args: {faster: B, slower: A}

``parse`` validates that list up front (an unknown check, argument or configuration is a
ParamsError naming it), ``evaluate`` runs every check whose evidence is available and returns
:class:`Claim` rows for ``sink.Report.claims``.

Every comparison is between groups of seeds (``landscape.stats``): the effect (a difference of
means, a ratio of means on a log scale, a contrast, a rank correlation or a proportion) with its
95% confidence interval. A directional comparison is *supported* when the interval excludes the
null value in the claimed direction, *contradicted* when it excludes it the other way, and
*inconclusive* otherwise (too few seeds for an interval are inconclusive too). A claim made of
several comparisons (an order of three groups, two criteria) is a conjunction: supported when
every comparison is supported, contradicted when any is contradicted, else inconclusive; no
comparison is ever dropped. *Pending*: the evidence the check needs was not produced. A seed
that diverged or failed is left out of checks that do not score divergence (the evidence says
so); checks that score it say how (e.g. a diverged run scores chance) and whether the verdict
depends on that choice. Where a check can also be decided with the study's own method (its
one-mini-batch power iteration, SAM's single first-order step, unnormalized random slices, BN
statistics interpolated), :class:`Claim` carries that verdict too.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from . import stats
from .params import ParamsError, ReportParams
from .training import outcome

SUPPORTED, CONTRADICTED, INCONCLUSIVE, PENDING = "supported", "contradicted", "inconclusive", "pending"
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE, PENDING)
DEPENDS = "depends on the method"
RULE = ("Each comparison is decided by the 95% confidence interval of its effect over seeds: supported when "
        "it lies wholly on the claimed side of the threshold (no effect, a difference of 0 or a ratio of 1, "
        "unless the evidence names another), contradicted when wholly on the other side, inconclusive otherwise; "
        "a claim of several comparisons is supported only when all are, and contradicted when any is.")


@dataclass(frozen=True)
class Claim:
    """A claim with its verdict by our method and, where the check has one, by the study's."""

    text: str
    verdict: str
    evidence: str
    check: str | None = None
    study_verdict: str | None = None
    study_evidence: str | None = None

    def __post_init__(self) -> None:
        for verdict in (self.verdict, self.study_verdict):
            if verdict is not None and verdict not in VERDICTS:
                raise ValueError(f"unknown verdict {verdict!r}; allowed: {list(VERDICTS)}")

    @property
    def headline(self) -> str:
        """The verdict, or "depends on the method" when the study's method decides otherwise."""
        if self.study_verdict is not None and self.study_verdict != self.verdict:
            return DEPENDS
        return self.verdict


@dataclass(frozen=True)
class ClaimSpec:
    """One entry of ``reference.claims``: the text and, if checked, the check and its arguments."""

    text: str
    check: str | None = None
    args: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    function: Callable[..., tuple[str, str]]
    needs: str | tuple[str, ...]  # key(s) of the evidence mapping handed to ``evaluate``, in argument order
    run_args: tuple[str, ...]  # arguments that name configurations (an id, or lists / lists of lists of them)
    scores_divergence: bool = False  # the check judges diverged runs itself (else they are left out)
    study_method: dict | None = None  # the arguments that decide the claim by the study's method

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.needs,) if isinstance(self.needs, str) else tuple(self.needs)

    @property
    def arguments(self) -> list[str]:
        """Every argument a params entry may give: the function's parameters after the evidence."""
        return list(inspect.signature(self.function).parameters)[len(self.keys):]


class MissingEvidence(ValueError):
    """The frame lacks a number the check needs (the claim stays pending)."""


# ---------------------------------------------------------------------------- verdicts from intervals

def verdict_of(interval: stats.Interval, claimed: int = 1, null: float = 0.0) -> str:
    """Supported when ``interval`` lies beyond ``null`` on the ``claimed`` side (+1 above, -1
    below), contradicted when it lies beyond it on the other side, else inconclusive."""
    side = interval.side(null)
    return INCONCLUSIVE if side == 0 else (SUPPORTED if side == claimed else CONTRADICTED)


def combine(verdicts: Sequence[str]) -> str:
    """A conjunction of comparisons: supported when all are, contradicted when any is, else
    inconclusive (a tie is never dropped)."""
    if not verdicts:
        return INCONCLUSIVE
    if any(v == CONTRADICTED for v in verdicts):
        return CONTRADICTED
    return SUPPORTED if all(v == SUPPORTED for v in verdicts) else INCONCLUSIVE


MARK = " → "  # between a comparison's evidence and its own verdict, in a claim of several


def conclude(parts: Sequence[tuple[str, str]], suffix: str = "") -> tuple[str, str]:
    """A conjunction of comparisons, each (verdict, evidence): the verdict of :func:`combine` and
    the evidence joined by "; ", each comparison followed by its own verdict (``MARK``) when
    there is more than one, so the reader (and :func:`deciding`) sees which one decides."""
    texts = [text if len(parts) == 1 else f"{text}{MARK}{verdict}" for verdict, text in parts]
    return combine([verdict for verdict, _ in parts]), "; ".join(texts) + suffix


def clauses(evidence: str) -> list[str]:
    """``evidence`` split at each "; " outside brackets."""
    out, depth, start = [], 0, 0
    for i, char in enumerate(evidence):
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif depth == 0 and evidence.startswith("; ", i):
            out.append(evidence[start:i])
            start = i + 2
    return out + [evidence[start:]]


def deciding(evidence: str, verdict: str) -> tuple[str, int]:
    """The comparison of ``evidence`` that decides ``verdict`` and the number of comparisons:
    the first one marked with that verdict by :func:`conclude` (for "supported" every one is),
    else the first clause (a check of one comparison)."""
    marked = [c for c in clauses(evidence) if MARK in c]
    for clause in marked:
        if clause.endswith(MARK + verdict):
            return clause[:-len(MARK + verdict)], len(marked)
    return clauses(evidence)[0], max(len(marked), 1)


def _difference(what: str, a: str, b: str, values_a: Sequence[float], values_b: Sequence[float],
                claimed: int = 1, digits: int = 4) -> tuple[str, str]:
    """Verdict and evidence for "mean(a) − mean(b) has the sign ``claimed``" (Welch)."""
    found = stats.difference(values_a, values_b)
    text = (f"{what}: {a} {_mean(values_a, digits)} vs {b} {_mean(values_b, digits)}, difference "
            f"{found.text(digits)} (Welch 95% CI, n = {found.n[0]}, {found.n[1]})")
    return verdict_of(found, claimed), text


def _ratio(what: str, a: str, b: str, values_a: Sequence[float], values_b: Sequence[float],
           claimed: int = 1) -> tuple[str, str]:
    """Verdict and evidence for "a's values are larger than b's" on a log scale: each group's
    geometric mean (t interval on logs) and their ratio with the Welch interval of the difference
    of mean logs (for positive quantities that span orders of magnitude, e.g. eigenvalues). A
    value ≤ 0 falls back to the difference of means."""
    a_arr, b_arr = np.asarray(values_a, float), np.asarray(values_b, float)
    if (a_arr <= 0).any() or (b_arr <= 0).any():
        return _difference(what, a, b, a_arr, b_arr, claimed, digits=3)
    found = stats.difference(np.log(a_arr), np.log(b_arr))
    ratio = found.exp().text(3).replace(" [", "× [", 1)
    text = (f"{what}: geometric mean {a} {stats.mean_ci(np.log(a_arr)).exp().text(3)} vs {b} "
            f"{stats.mean_ci(np.log(b_arr)).exp().text(3)}, ratio {ratio} (Welch 95% CI on logs, "
            f"n = {found.n[0]}, {found.n[1]})")
    return verdict_of(found, claimed), text


def _mean(values: Sequence[float], digits: int) -> str:
    return stats.mean_ci(values).text(digits)


# ---------------------------------------------------------------------------- evidence by configuration

def _flatten(value: Any) -> list:
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _flatten(v)]
    return [value]


def _group(value: Any) -> list[str]:
    return [str(v) for v in _flatten(value)]


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, pd.DataFrame) and value.empty)


def _finals(history: pd.DataFrame, config: str) -> pd.DataFrame:
    """The last completed epoch of each seed of ``config``."""
    rows = history[history["config"] == config]
    if rows.empty:
        raise MissingEvidence(f"no completed epoch for configuration {config!r}")
    return rows.sort_values("epoch").groupby("run", sort=False).tail(1).sort_values("seed")


def _per_seed(frame: pd.DataFrame, config: str, column: str, what: str, **where: Any) -> np.ndarray:
    rows = frame[frame["config"] == config]
    for key, value in where.items():
        rows = rows[rows[key] == value]
    if rows.empty:
        raise MissingEvidence(f"no {what} for configuration {config!r}")
    return rows.sort_values("seed")[column].to_numpy(float)


def _epochs_to_reach(rows: pd.DataFrame, threshold: float, column: str = "test_acc") -> int | None:
    hit = rows[rows[column] >= threshold]
    return int(hit["epoch"].iloc[0]) if len(hit) else None


def converges_faster(history: pd.DataFrame, faster: str, slower: str) -> tuple[str, str]:
    """``faster`` converges faster than ``slower``: higher val (test) accuracy after epoch 1, and
    (with more than one epoch) fewer epochs to reach the lower of the two configurations' mean
    final val accuracies (a seed that never reaches it counts as one epoch past the last)."""
    first = {c: _per_seed(history, c, "test_acc", "epoch 1", epoch=1) for c in (faster, slower)}
    parts = [_difference("epoch-1 val acc", faster, slower, first[faster], first[slower])]
    epochs = int(history["epoch"].max())
    if epochs > 1:
        threshold = min(float(_finals(history, c)["test_acc"].mean()) for c in (faster, slower))
        reach = {}
        for c in (faster, slower):
            seeds = history[history["config"] == c].sort_values("epoch").groupby("seed")
            reach[c] = [e if e is not None else epochs + 1 for e in
                        (_epochs_to_reach(rows, threshold) for _, rows in seeds)]
        parts.append(_difference(f"epochs to reach val acc {stats.number_text(threshold)} (the lower mean final one)", slower,
                                 faster, reach[slower], reach[faster], digits=3))
    return conclude(parts)


def generalizes_better(history: pd.DataFrame, better: str, worse: str) -> tuple[str, str]:
    """``better`` generalizes better than ``worse``: a higher final val (test) accuracy and a
    smaller final generalization gap, measured in evaluation mode (train probe set accuracy −
    val accuracy, both on the final weights)."""
    fb, fw = _finals(history, better), _finals(history, worse)
    parts = []
    for what, column, a, b, va, vb in (("final val acc", "test_acc", better, worse, fb, fw),
                                       ("final eval-mode gap", "eval_gap", worse, better, fw, fb)):
        if va[column].isna().all() or vb[column].isna().all():
            raise MissingEvidence(f"no {what}")
        parts.append(_difference(what, a, b, va[column].to_numpy(float), vb[column].to_numpy(float)))
    return conclude(parts)


def _status_rows(runs: pd.DataFrame, config: str) -> pd.DataFrame:
    rows = runs[runs["config"] == config]
    if rows.empty:
        raise MissingEvidence(f"configuration {config!r} was not trained")
    return rows


def _proportion(what: str, config: str, k: int, n: int, threshold: float = 0.5) -> tuple[str, str]:
    found = stats.proportion_ci(k, n)
    text = f"{config}: {what} in {k} of {n} seeds, {found.text(3)} (Clopper–Pearson; more often than not: > {threshold:g})"
    return verdict_of(found, 1, threshold), text


def diverges(runs: pd.DataFrame, diverged: list) -> tuple[str, str]:
    """The configurations of ``diverged`` diverge (a non-finite loss stops them): the share of
    seeds that diverged, with its exact 95% interval, lies above one half."""
    parts = []
    for config in _group(diverged):
        rows = _status_rows(runs, config)
        rows = rows[rows["status"] != "failed"]
        v, t = _proportion("diverged", config, int((rows["status"] == "diverged").sum()), len(rows))
        epochs = sorted(int(e) for e in rows["diverged_epoch"].dropna())
        parts.append((v, t + (f", at epochs {', '.join(map(str, epochs))}" if epochs else "")))
    return conclude(parts)


def does_not_learn(history: pd.DataFrame, runs: list, num_classes: int = 10, acc_tolerance: float = 0.02,
                   loss_tolerance: float = 0.02) -> tuple[str, str]:
    """Each configuration ends at chance: the 95% CI over seeds of the final val (test) accuracy
    lies within ``acc_tolerance`` of 1/num_classes and that of the val loss within
    ``loss_tolerance`` nats of ln(num_classes) (a uniform prediction); an accuracy CI wholly above
    chance + ``acc_tolerance`` is contradicted (the network learns)."""
    chance, uniform = 1.0 / num_classes, float(np.log(num_classes))
    parts = []
    for config in _group(runs):
        finals = _finals(history, config)
        acc, loss = stats.mean_ci(finals["test_acc"]), stats.mean_ci(finals["test_loss"])
        inside = (acc.defined and loss.defined and chance - acc_tolerance <= acc.low and acc.high <= chance + acc_tolerance
                  and uniform - loss_tolerance <= loss.low and loss.high <= uniform + loss_tolerance)
        verdict = SUPPORTED if inside else CONTRADICTED if acc.side(chance + acc_tolerance) == 1 else INCONCLUSIVE
        parts.append((verdict, f"{config}: final val acc {acc.text(4)} (chance {stats.number_text(chance)} ± {acc_tolerance:g}), val "
                               f"loss {loss.text(4)} (ln {num_classes} = {stats.number_text(uniform)} ± {loss_tolerance:g}), n = {acc.n}"))
    return conclude(parts)


def _scored(history: pd.DataFrame, runs: pd.DataFrame, config: str, chance: float | None) -> tuple[list[float], int]:
    """Final val accuracy per seed of ``config``; a diverged seed scores ``chance`` (or is left
    out when ``chance`` is None). Returns (values, diverged seeds)."""
    rows = _status_rows(runs, config)
    finals = _finals(history, config).set_index("run") if (history["config"] == config).any() else pd.DataFrame()
    values, diverged = [], 0
    for _, row in rows.sort_values("seed").iterrows():
        if row["status"] == "diverged":
            diverged += 1
            if chance is not None:
                values.append(chance)
        elif row["status"] == "completed" and row["run"] in finals.index:
            values.append(float(finals.loc[row["run"], "test_acc"]))
    return values, diverged


def main_effect_larger(history: pd.DataFrame, runs: pd.DataFrame, larger: list, smaller: list,
                       num_classes: int = 10) -> tuple[str, str]:
    """In a factorial ablation, removing factor ``larger`` costs more final val accuracy than
    removing factor ``smaller``. Each factor is [[configurations with it], [the same without
    it]]; its main effect is mean(with) − mean(without) of the configuration means, and the
    claim is decided by the Welch interval of the difference of the two main effects (a linear
    contrast of configuration means). A diverged seed scores chance (1/num_classes): a network
    that cannot be trained is as useless as one that does not learn; the evidence says whether
    the verdict rests on that choice."""
    chance = 1.0 / num_classes
    configs = list(dict.fromkeys(_group([larger, smaller])))
    weights = dict.fromkeys(configs, 0.0)
    for sign, (with_, without) in ((1.0, larger), (-1.0, smaller)):
        for side, factor in ((_group(with_), 1.0), (_group(without), -1.0)):
            for c in side:
                weights[c] += sign * factor / len(side)

    def decide(score: float | None) -> tuple[str, stats.Interval, dict]:
        scored = {c: _scored(history, runs, c, score) for c in configs}
        found = stats.contrast([scored[c][0] for c in configs], [weights[c] for c in configs])
        return verdict_of(found), found, scored

    verdict, found, scored = decide(chance)
    means = {c: (f"{np.mean(v):.4f}" if v else "no run") + f" (n = {len(v)})" for c, (v, _) in scored.items()}
    text = (f"effect of the larger-claimed factor minus the smaller-claimed one on final val acc: {found.text(4)} "
            f"(Welch contrast, 95% CI); per configuration: "
            f"{', '.join(f'{c} {m}' for c, m in means.items())}")
    diverged = sum(d for _, d in scored.values())
    if diverged:
        text += f". {diverged} diverged seed{'s' if diverged > 1 else ''} scored as chance ({stats.number_text(chance)})"
        without = {c: _scored(history, runs, c, None)[0] for c in configs}
        if all(len(v) >= 2 for v in without.values()):
            alt, alt_found, _ = decide(None)
            text += (f"; leaving them out instead gives {alt_found.text(4)}, {alt}"
                     + (": the verdict depends on that choice" if alt != verdict else ": the same verdict"))
        else:
            empty = [c for c, v in without.items() if len(v) < 2]
            text += f"; without that choice the contrast cannot be formed ({', '.join(empty)}: fewer than 2 completed seeds)"
    return verdict, text


# ---------------------------------------------------------------------------- probe checks
# Evidence frames come from ``landscape.probes`` (see ``ProbeResults.evidence``), one row per
# run (``config``, ``seed``) or pair of runs.

def _noise_means(noise: pd.DataFrame, config: str, metric: str, scale: str = "absolute") -> pd.DataFrame:
    """seed x σ: the mean over draws of ``metric`` under ``scale`` weight noise."""
    rows = noise[(noise["config"] == config) & (noise["metric"] == metric) & (noise["scale"] == scale)]
    if rows.empty:
        raise MissingEvidence(f"no {scale} weight-noise {metric} for configuration {config!r}")
    return rows.pivot_table(index="seed", columns="sigma", values="mean").sort_index()


def more_noise_robust(noise: pd.DataFrame, robust: str, fragile: str) -> tuple[str, str]:
    """``robust`` loses less accuracy than ``fragile`` under absolute weight noise: per seed the
    accuracy drop from σ = 0, averaged over the σ > 0 of the grid (mean over draws), compared
    between the configurations (Welch)."""
    drops = {}
    for c in (robust, fragile):
        acc = _noise_means(noise, c, "accuracy")
        if 0.0 not in acc.columns or not (acc.columns > 0).any():
            raise MissingEvidence("the noise probe needs σ = 0 and at least one σ > 0")
        drops[c] = acc.rsub(acc[0.0], axis=0).loc[:, acc.columns > 0]
    sigmas = ", ".join(f"{s:g}" for s in drops[robust].columns)
    verdict, text = _difference(f"accuracy drop from σ = 0 averaged over σ ∈ {{{sigmas}}} (absolute noise)",
                                fragile, robust, drops[fragile].mean(axis=1), drops[robust].mean(axis=1))
    per_sigma = "; ".join(f"σ {s:g}: {robust} {drops[robust][s].mean():+.4f}, {fragile} {drops[fragile][s].mean():+.4f}"
                          for s in drops[robust].columns)
    return verdict, f"{text}; mean drop per σ: {per_sigma}"


def _slice_rises(frame: pd.DataFrame, config: str, direction: str, split: str = "train") -> np.ndarray:
    rows = frame[(frame["config"] == config) & (frame["direction"] == direction) & (frame["split"] == split)]
    if rows.empty:
        raise MissingEvidence(f"no {direction} slice for configuration {config!r}")
    rises = []
    for _, seed_rows in rows.groupby("seed"):
        centre = seed_rows.loc[seed_rows["alpha"].abs().idxmin(), "loss"]
        rises.append(float((seed_rows[seed_rows["alpha"] != 0]["loss"] - centre).mean()))
    return np.asarray(rises)


def steeper_slice(slice1d: pd.DataFrame, steeper: str, flatter: str, direction: str = "filter") -> tuple[str, str]:
    """``steeper``'s 1D slice rises more than ``flatter``'s: per seed the mean over the α grid of
    L(θ + α d) − L(θ) on the train probe set along one ``direction`` kind (ours: filter-normalized;
    the study's: an unnormalized random direction)."""
    return _difference(f"mean rise along the {direction} direction (nats)", steeper, flatter,
                       _slice_rises(slice1d, steeper, direction), _slice_rises(slice1d, flatter, direction))


def _order(name: str, values: Callable[[str], np.ndarray], order: list) -> tuple[str, str]:
    """Every earlier group of ``order`` above every later one (ratios, see :func:`_ratio`)."""
    groups = [_group(g) for g in order]
    pooled = {"/".join(g): np.concatenate([values(c) for c in g]) for g in groups}
    names = list(pooled)
    return conclude([_ratio(name, names[i], names[j], pooled[names[i]], pooled[names[j]])
                     for i in range(len(names)) for j in range(i + 1, len(names))])


def lambda_max_order(hessian: pd.DataFrame, order: list, method: str = "lanczos") -> tuple[str, str]:
    """The configurations of ``order`` (ids, or lists pooled as one group) have descending top
    Hessian eigenvalues: ours by Lanczos on the train probe set, the study's (``method:
    study``) by power iteration on one mini-batch."""
    what = "λmax (Lanczos, train probe set)" if method == "lanczos" else "λmax (study's method: one mini-batch)"
    return _order(what, lambda c: _per_seed(hessian, c, "lambda_max", f"{method} λmax", method=method), order)


def sharpness_order(sharpness: pd.DataFrame, order: list, kind: str = "sam", column: str = "sharpness"
                    ) -> tuple[str, str]:
    """The configurations of ``order`` have descending ε-sharpness of ``kind`` (``sam`` or
    ``asam``): ours after the projected ascent, the study's (``column: first_order``) at SAM's
    single first-order step (train probe set)."""
    what = f"{kind.upper()} sharpness ({'projected ascent' if column == 'sharpness' else 'first-order step'}, nats)"
    return _order(what, lambda c: _per_seed(sharpness, c, column, f"{kind} sharpness", kind=kind), order)


def well_conditioned(hessian: pd.DataFrame, runs: list, max_condition: float = 10.0) -> tuple[str, str]:
    """Each configuration is well-conditioned in most seeds: the share of seeds whose Hessian on
    the train probe set is positive definite with λmax/λmin ≤ ``max_condition`` lies above one
    half (exact 95% interval). Negative curvature (the condition number is then undefined) or a
    larger ratio counts against; a seed whose smallest eigenvalue did not converge is left out."""
    parts = []
    for config in _group(runs):
        rows = hessian[(hessian["config"] == config) & (hessian["method"] == "lanczos")]
        if rows.empty:
            raise MissingEvidence(f"no Hessian for configuration {config!r}")
        known = rows[rows["condition_number"].notna() | rows["lambda_min"].notna()]
        good = int((known["condition_number"] <= max_condition).sum())
        v, t = _proportion(f"0 < κ ≤ {max_condition:g}", config, good, len(known))
        kappas = ", ".join(f"{stats.number_text(k, 3)}" if pd.notna(k) else ("λmin < 0" if pd.notna(m) else "λmin unresolved")
                           for k, m in zip(rows["condition_number"], rows["lambda_min"]))
        parts.append((v, f"{t}, κ per seed: {kappas}"))
    return conclude(parts)


def least_flat(flatness: pd.DataFrame, least: list, others: list) -> tuple[str, str]:
    """The configurations of ``least`` have a larger flatness |ΔL| (the study's: mean over noise
    draws) than each group of ``others``."""
    def values(group: list[str]) -> np.ndarray:
        return np.concatenate([_per_seed(flatness, c, "mean", "flatness") for c in group])

    top = _group(least)
    return conclude([_difference("|ΔL|", "/".join(top), "/".join(group), values(top), values(group), digits=3)
                     for group in [_group(g) for g in others]])


def flatter_generalizes_better(hessian: pd.DataFrame, history: pd.DataFrame, runs: list) -> tuple[str, str]:
    """Across the seeds of the configurations of ``runs``, a lower λmax (Lanczos) goes with a
    higher final val accuracy: Kendall's τ between the two is negative, with a paired-bootstrap
    95% interval."""
    lams, accs = [], []
    for config in _group(runs):
        lam = hessian[(hessian["config"] == config) & (hessian["method"] == "lanczos")].set_index("run")["lambda_max"]
        finals = _finals(history, config).set_index("run")["test_acc"]
        both = lam.index.intersection(finals.index)
        lams += list(lam[both])
        accs += list(finals[both])
    found = stats.kendall_tau(lams, accs)
    spread = stats.mean_ci(lams)
    return verdict_of(found, claimed=-1), (
        f"Kendall τ(λmax, final val acc) over {found.n} seeds = {found.text(3)} (paired bootstrap; "
        f"supported when the CI lies below 0); λmax over seeds {spread.text(3)}, range "
        f"{stats.number_text(min(lams), 3)}–{stats.number_text(max(lams), 3)}; final val acc range {min(accs):.4f}–{max(accs):.4f}")


MIN_BOOTSTRAP_SEEDS = 5  # fewer values give too few distinct resamples for a bootstrap interval


def _relative_spread(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1) / np.mean(values)) if len(values) > 1 else float("nan")


def lambda_max_spread(hessian: pd.DataFrame, runs: list, min_spread: float = 0.05, method: str = "lanczos"
                      ) -> tuple[str, str]:
    """Seeds of one configuration land in minima of different sharpness: the coefficient of
    variation of λmax over seeds (bootstrap 95% interval) lies above ``min_spread``. The order of
    the first two seeds (the study's pair) is given as evidence, not as the verdict."""
    config = _group(runs)[0]
    rows = hessian[(hessian["config"] == config) & (hessian["method"] == method)].sort_values("seed")
    if rows.empty:
        raise MissingEvidence(f"no {method} λmax for configuration {config!r}")
    values = rows["lambda_max"].to_numpy(float)
    found = (stats.bootstrap_ci(values, _relative_spread) if len(values) >= MIN_BOOTSTRAP_SEEDS else
             stats.Interval(_relative_spread(values), float("nan"), float("nan"), len(values), stats.LEVEL,
                            f"fewer than {MIN_BOOTSTRAP_SEEDS} seeds: no bootstrap interval"))
    text = (f"{config}: coefficient of variation of λmax ({'Lanczos' if method == 'lanczos' else 'study method'}) "
            f"over {len(values)} seeds {found.text(3)} (bootstrap; 'different' means above {min_spread:g}); λmax "
            f"{stats.mean_ci(values).text(3)}, range {stats.number_text(values.min(), 3)}–{stats.number_text(values.max(), 3)}")
    if len(values) >= 2:
        seeds = rows["seed"].tolist()
        text += (f"; the study's pair (seeds {seeds[0]}, {seeds[1]}): {stats.number_text(values[0], 3)} vs {stats.number_text(values[1], 3)}, "
                 f"seed {seeds[0] if values[0] < values[1] else seeds[1]} flatter")
    return verdict_of(found, 1, min_spread), text


def loss_barrier(barriers: pd.DataFrame, configs: list, min_barrier: float = 0.1, smallest: str | None = None,
                 bn: str = "recompute") -> tuple[str, str]:
    """Every configuration's minima are separated by a loss barrier of at least ``min_barrier``
    nats: on each split the 95% CI over its disjoint seed pairs of the barrier lies above it
    (below it: contradicted). With ``smallest``, that configuration's barrier is also below every
    other one's (Welch). BatchNorm statistics are recomputed at each point of the path (ours; the
    study interpolated them: ``bn: interpolate``); a network without BatchNorm has one path."""
    parts, by_config = [], {}
    for config in _group(configs):
        rows = barriers[barriers["config"] == config]
        if rows.empty:
            raise MissingEvidence(f"no barrier for configuration {config!r}")
        treatment = bn if bn in set(rows["bn"]) else "interpolate"
        rows = rows[rows["bn"] == treatment]
        by_config[config] = rows
        for split, split_rows in rows.groupby("split", sort=False):
            found = stats.mean_ci(split_rows["loss_barrier"])
            parts.append((verdict_of(found, 1, min_barrier),
                          f"{config} {split} loss barrier (BN {treatment}; nats; 'a barrier' means a 95% CI above "
                          f"{min_barrier:g}): {found.text(3)} over {found.n} pair{'s' if found.n != 1 else ''}"))
    if smallest is not None:
        if smallest not in by_config:
            raise MissingEvidence(f"configuration {smallest!r} is not among the configurations")
        mine = by_config[smallest]
        for other, rows in by_config.items():
            if other == smallest:
                continue
            for split in dict.fromkeys(mine["split"]):
                parts.append(_difference(f"{split} barrier", other, smallest,
                                         rows[rows["split"] == split]["loss_barrier"],
                                         mine[mine["split"] == split]["loss_barrier"], digits=3))
    return conclude(parts)


def noise_thresholds(noise: pd.DataFrame, runs: list, small: list = (0.01, 0.02), large: float = 0.1,
                     loss_tolerance: float = 0.1, collapse_drop: float = 0.3) -> tuple[str, str]:
    """Absolute weight noise: at every σ in ``small`` the relative change of the mean test loss,
    |L(σ) − L(0)| / L(0), stays below ``loss_tolerance`` ("barely changes": its 95% CI over seeds
    lies below it), and at σ = ``large`` the accuracy drops by at least ``collapse_drop``
    ("collapses": its CI lies above it)."""
    parts = []
    for config in _group(runs):
        loss, acc = _noise_means(noise, config, "loss"), _noise_means(noise, config, "accuracy")
        for sigma in [0.0, *map(float, small), float(large)]:
            if sigma not in loss.columns:
                raise MissingEvidence(f"σ {sigma:g} was not measured")
        for sigma in map(float, small):
            change = stats.mean_ci((loss[sigma] - loss[0.0]).abs() / loss[0.0])
            parts.append((verdict_of(change, -1, loss_tolerance),
                          f"{config} σ {sigma:g}: relative test-loss change {change.text(3)} (below {loss_tolerance:g}?)"))
        drop = stats.mean_ci(acc[0.0] - acc[float(large)])
        parts.append((verdict_of(drop, 1, collapse_drop),
                      f"{config} σ {float(large):g}: accuracy drop {drop.text(3)} from {acc[0.0].mean():.4f} "
                      f"(at least {collapse_drop:g}?)"))
    return conclude(parts, suffix=f"; n = {len(loss)} seeds")


CHECKS: dict[str, Check] = {
    "converges_faster": Check(converges_faster, "history", ("faster", "slower")),
    "generalizes_better": Check(generalizes_better, "history", ("better", "worse")),
    "diverges": Check(diverges, "runs", ("diverged",), scores_divergence=True),
    "does_not_learn": Check(does_not_learn, "history", ("runs",)),
    "main_effect_larger": Check(main_effect_larger, ("history", "runs"), ("larger", "smaller"),
                                scores_divergence=True),
    "more_noise_robust": Check(more_noise_robust, "noise", ("robust", "fragile")),
    "steeper_slice": Check(steeper_slice, "slice1d", ("steeper", "flatter"), study_method={"direction": "random"}),
    "lambda_max_order": Check(lambda_max_order, "hessian", ("order",), study_method={"method": "study"}),
    "lambda_max_spread": Check(lambda_max_spread, "hessian", ("runs",), study_method={"method": "study"}),
    "sharpness_order": Check(sharpness_order, "sharpness", ("order",), study_method={"column": "first_order"}),
    "well_conditioned": Check(well_conditioned, "hessian", ("runs",)),
    "least_flat": Check(least_flat, "flatness", ("least", "others")),
    "flatter_generalizes_better": Check(flatter_generalizes_better, ("hessian", "history"), ("runs",)),
    "loss_barrier": Check(loss_barrier, "barriers", ("configs",), study_method={"bn": "interpolate"}),
    "noise_thresholds": Check(noise_thresholds, "noise", ("runs",)),
}


def parse(params: ReportParams) -> list[ClaimSpec]:
    """``reference.claims`` as ClaimSpecs; a malformed entry is a ParamsError naming it."""
    raw = (params.reference.model_extra or {}).get("claims") or []
    config_ids = [r.id for r in params.runs]
    specs = []
    for i, entry in enumerate(raw):
        where = f"reference.claims.{i}"
        if isinstance(entry, str):
            specs.append(ClaimSpec(entry))
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("text"), str):
            raise ParamsError(f"{where}: expected a string or a mapping with 'text' (and 'check', 'args')")
        unknown = sorted(set(entry) - {"text", "check", "args"})
        if unknown:
            raise ParamsError(f"{where}: unknown key(s) {unknown}; allowed keys: ['args', 'check', 'text']")
        name, args = entry.get("check"), dict(entry.get("args") or {})
        if name is None:
            specs.append(ClaimSpec(entry["text"]))
            continue
        if name not in CHECKS:
            raise ParamsError(f"{where}.check: unknown check {name!r}; allowed: {sorted(CHECKS)}")
        check = CHECKS[name]
        optional = sorted(set(check.arguments) - set(check.run_args))
        if set(args) - set(check.arguments) or set(check.run_args) - set(args):
            raise ParamsError(f"{where}.args: check {name!r} takes {sorted(check.run_args)} (and optionally "
                              f"{optional}); got {sorted(args)}")
        for key in check.run_args:
            for config in _flatten(args[key]):
                if config not in config_ids:
                    raise ParamsError(f"{where}.args.{key}: unknown configuration {config!r}; runs are {config_ids}")
        specs.append(ClaimSpec(entry["text"], name, args))
    return specs


def evaluate(params: ReportParams, evidence: Mapping[str, Any]) -> list[Claim]:
    """Every claim of ``params`` with its verdict; ``evidence`` maps what checks need (e.g.
    ``{"history": history_frame, "runs": status_frame}``); a check whose evidence is missing
    stays pending."""
    claims = []
    for spec in parse(params):
        if spec.check is None:
            claims.append(Claim(spec.text, PENDING, "no check implemented yet"))
            continue
        check = CHECKS[spec.check]
        configs = list(dict.fromkeys(c for key in check.run_args for c in _flatten(spec.args[key])))
        left_out, frames = _usable(evidence, configs, check.scores_divergence)
        missing = [k for k in check.keys if _empty(frames.get(k))]
        if missing:
            why = (f"needs {', '.join(missing)}, which this report did not compute" if not left_out
                   else f"pending because {'; '.join(left_out)}")
            claims.append(Claim(spec.text, PENDING, why, spec.check))
            continue
        verdict, text = _decide(check, frames, spec.args)
        study_verdict = study_text = None
        if check.study_method is not None and verdict != PENDING:
            study_verdict, study_text = _decide(check, frames, {**spec.args, **check.study_method})
            if study_verdict == PENDING:
                study_verdict = study_text = None
        note = f"; left out: {'; '.join(left_out)}" if left_out else ""  # evidence ends without a full stop
        claims.append(Claim(spec.text, verdict, text + note, spec.check, study_verdict, study_text))
    return claims


def _decide(check: Check, frames: Mapping[str, Any], args: Mapping[str, Any]) -> tuple[str, str]:
    try:
        return check.function(*[frames[k] for k in check.keys], **args)
    except MissingEvidence as exc:
        return PENDING, str(exc)


def _usable(evidence: Mapping[str, Any], configs: list[str], scores_divergence: bool) -> tuple[list[str], dict]:
    """The evidence with the seeds of ``configs`` that cannot be scored left out of every frame
    (failed seeds always; diverged seeds unless the check scores divergence), and why each was
    left out ("run X diverged at epoch N")."""
    runs = evidence.get("runs")
    if _empty(runs):
        return [], dict(evidence)
    stopping = ("failed",) if scores_divergence else ("failed", "diverged")
    rows = runs[runs["config"].isin(configs) & runs["status"].isin(stopping)]
    reasons = []
    for _, row in rows.iterrows():
        if row["status"] == "failed":
            reasons.append(f"run {row['run']} failed ({row.get('error') or 'no reason recorded'})")
        else:
            epoch = row["diverged_epoch"]
            reasons.append(f"run {row['run']} {outcome(row['status'], None if pd.isna(epoch) else int(epoch))}")
    gone = set(rows["run"])
    frames = {}
    for key, frame in evidence.items():
        if key == "runs" or not isinstance(frame, pd.DataFrame) or not gone:
            frames[key] = frame
        elif "run" in frame.columns:
            frames[key] = frame[~frame["run"].isin(gone)]
        elif "run_a" in frame.columns:
            frames[key] = frame[~(frame["run_a"].isin(gone) | frame["run_b"].isin(gone))]
        else:
            frames[key] = frame
    return reasons, frames


def counts(claims: list[Claim]) -> dict[str, int]:
    """Number of claims per headline verdict (every verdict present, zeros included)."""
    found = {v: sum(c.headline == v for c in claims) for v in VERDICTS}
    depends = sum(c.headline == DEPENDS for c in claims)
    return {**found, DEPENDS: depends} if depends else found


def table(claims: list[Claim]) -> pd.DataFrame:
    """One row per claim: the text, the headline verdict, the evidence by our method and, where
    the check has one, the verdict and evidence by the study's method."""
    rows = []
    for c in claims:
        evidence = c.evidence
        if c.study_verdict is not None:
            evidence += f" — by the study's method: {c.study_verdict}. {c.study_evidence}"
        rows.append({"claim (study)": c.text, "verdict": c.headline,
                     "ours / study's method": c.verdict + (f" / {c.study_verdict}" if c.study_verdict else ""),
                     "evidence (this report's seeds)": evidence})
    return pd.DataFrame(rows, columns=["claim (study)", "verdict", "ours / study's method",
                                       "evidence (this report's seeds)"])


def summary_sentence(claims: list[Claim]) -> str:
    """How many claims were checked and how they came out, in one sentence."""
    c = counts(claims)
    checked = len(claims) - c[PENDING]
    text = (f"Of the study's {len(claims)} claims, {checked} can be checked against this report's seeds: "
            f"{c[SUPPORTED]} supported, {c[CONTRADICTED]} contradicted, {c[INCONCLUSIVE]} inconclusive"
            + (f", {c[DEPENDS]} where the verdict depends on the method (ours vs the study's)" if c.get(DEPENDS) else "")
            + ".")
    if c[PENDING]:
        text += (f" {c[PENDING]} stay pending; the evidence column says why (a configuration without a usable seed, "
                 "a number this report does not compute, or no check yet).")
    return text + (" A verdict compares groups of seeds: supported or contradicted only when the 95% confidence "
                   "interval of the effect excludes no effect; with few seeds an interval is wide and the verdict "
                   "inconclusive.")
