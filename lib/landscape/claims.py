"""The study's claims, each with a verdict computed from this run's numbers.

A claim is listed in the params file under ``reference.claims`` either as plain text (not
checked yet: verdict *pending*) or as a mapping that names the check that decides it::

    - text: "Model B converges faster than Model A."
      check: converges_faster
      args: {faster: B, slower: A}

``parse`` validates that list up front (an unknown check, argument or run id is a ParamsError
naming it), ``evaluate`` runs every check whose evidence is available and returns
:class:`Claim` rows (text, verdict, evidence) for ``sink.Report.claims``.

Verdicts: *supported* (every informative comparison goes the claimed way), *contradicted* (every
informative comparison goes the other way), *inconclusive* (they disagree, or every difference
is within ``tolerance``), *pending* (the evidence the check needs was not produced). The runs are
single seeds: a verdict says what this run shows, not that a difference exceeds seed-to-seed
variation; differences smaller than ``tolerance`` count as ties.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from .params import ParamsError, ReportParams
from .training import outcome

SUPPORTED, CONTRADICTED, INCONCLUSIVE, PENDING = "supported", "contradicted", "inconclusive", "pending"
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE, PENDING)
DEFAULT_TOLERANCE = 0.005  # accuracy (fraction) or gap differences below this are ties


@dataclass(frozen=True)
class Claim:
    text: str
    verdict: str
    evidence: str
    check: str | None = None

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {self.verdict!r}; allowed: {list(VERDICTS)}")


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
    run_args: tuple[str, ...]  # arguments that name run ids (a run id, or lists / lists of lists of them)
    scores_divergence: bool = False  # the check judges diverged runs itself (else they make it pending)

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.needs,) if isinstance(self.needs, str) else tuple(self.needs)

    @property
    def arguments(self) -> list[str]:
        """Every argument a params entry may give: the function's parameters after the evidence."""
        return list(inspect.signature(self.function).parameters)[len(self.keys):]


def combine(signs: list[int]) -> str:
    """Verdict from comparison signs (+1 claimed way, -1 other way, 0 tie)."""
    informative = [s for s in signs if s != 0]
    if informative and all(s > 0 for s in informative):
        return SUPPORTED
    if informative and all(s < 0 for s in informative):
        return CONTRADICTED
    return INCONCLUSIVE


def _sign(difference: float, tolerance: float) -> int:
    return 0 if abs(difference) <= tolerance else (1 if difference > 0 else -1)


class MissingEvidence(ValueError):
    """The frame lacks a number the check needs (the claim stays pending)."""


def _run(history: pd.DataFrame, run_id: str) -> pd.DataFrame:
    rows = history[history["run"] == run_id].sort_values("epoch")
    if rows.empty:
        raise MissingEvidence(f"no completed epoch for run {run_id!r}")
    return rows


def epochs_to_reach(rows: pd.DataFrame, threshold: float, column: str = "test_acc") -> int | None:
    """First epoch whose ``column`` is at least ``threshold`` (None if never)."""
    hit = rows[rows[column] >= threshold]
    return int(hit["epoch"].iloc[0]) if len(hit) else None


def converges_faster(history: pd.DataFrame, faster: str, slower: str,
                     tolerance: float = DEFAULT_TOLERANCE) -> tuple[str, str]:
    """``faster`` converges faster than ``slower``: higher val (test) accuracy after epoch 1, and
    fewer epochs to reach the lower of the two final val accuracies."""
    f, s = _run(history, faster), _run(history, slower)
    first_f, first_s = float(f["test_acc"].iloc[0]), float(s["test_acc"].iloc[0])
    threshold = min(float(f["test_acc"].iloc[-1]), float(s["test_acc"].iloc[-1]))
    reach_f, reach_s = epochs_to_reach(f, threshold), epochs_to_reach(s, threshold)
    signs = [_sign(first_f - first_s, tolerance)]
    if len(f) > 1 or len(s) > 1:
        signs.append(_sign(float(reach_s - reach_f), 0.0))
    evidence = (f"epoch-1 val acc {faster} {first_f:.4f} vs {slower} {first_s:.4f} ({first_f - first_s:+.4f}); "
                f"epochs to reach val acc {threshold:.4f} (the lower final one): "
                f"{faster} {reach_f}, {slower} {reach_s}")
    return combine(signs), evidence


def generalizes_better(history: pd.DataFrame, better: str, worse: str,
                       tolerance: float = DEFAULT_TOLERANCE) -> tuple[str, str]:
    """``better`` generalizes better than ``worse``: higher final val (test) accuracy and a
    smaller final generalization gap (train acc − val acc)."""
    b, w = _run(history, better).iloc[-1], _run(history, worse).iloc[-1]
    signs = [_sign(float(b["test_acc"] - w["test_acc"]), tolerance), _sign(float(w["gap"] - b["gap"]), tolerance)]
    evidence = (f"final val acc {better} {b['test_acc']:.4f} vs {worse} {w['test_acc']:.4f} "
                f"({b['test_acc'] - w['test_acc']:+.4f}); "
                f"final gap {better} {b['gap']:+.4f} vs {worse} {w['gap']:+.4f}")
    return combine(signs), evidence


def _status(runs: pd.DataFrame, run_id: str) -> pd.Series:
    rows = runs[runs["run"] == run_id]
    if rows.empty:
        raise MissingEvidence(f"run {run_id!r} was not trained")
    return rows.iloc[0]


def diverges(runs: pd.DataFrame, diverged: list) -> tuple[str, str]:
    """Every run of ``diverged`` stopped with a non-finite loss (status ``diverged``); a run that
    completed counts against."""
    signs, parts = [], []
    for run_id in _group(diverged):
        row = _status(runs, run_id)
        signs.append(1 if row["status"] == "diverged" else -1)
        parts.append(f"{run_id}: {row['status']}" + (f" at epoch {int(row['diverged_epoch'])}"
                                                     if pd.notna(row["diverged_epoch"]) else
                                                     f" after {int(row['epochs'])} epochs"))
    return combine(signs), "; ".join(parts)


def does_not_learn(history: pd.DataFrame, runs: list, num_classes: int = 10, acc_tolerance: float = 0.02,
                   loss_tolerance: float = 0.02) -> tuple[str, str]:
    """Each run ends at chance: final val (test) accuracy within ``acc_tolerance`` of 1/num_classes
    and val loss within ``loss_tolerance`` nats of ln(num_classes) (a uniform prediction). An
    accuracy more than twice the tolerance above chance counts against; in between is a tie."""
    chance, uniform = 1.0 / num_classes, float(np.log(num_classes))
    signs, parts = [], []
    for run_id in _group(runs):
        final = _run(history, run_id).iloc[-1]
        excess = float(final["test_acc"]) - chance
        at_chance = abs(excess) <= acc_tolerance and abs(float(final["test_loss"]) - uniform) <= loss_tolerance
        signs.append(1 if at_chance else (-1 if excess > 2 * acc_tolerance else 0))
        parts.append(f"{run_id}: final val acc {final['test_acc']:.4f} (chance {chance:.4f}), val loss "
                     f"{final['test_loss']:.4f} (ln {num_classes} = {uniform:.4f}), train loss {final['train_loss']:.4f}")
    return combine(signs), "; ".join(parts)


def _final_or_chance(history: pd.DataFrame, runs: pd.DataFrame, run_id: str, chance: float) -> tuple[float, str]:
    row = _status(runs, run_id)
    if row["status"] != "completed":
        return chance, f"{run_id} {row['status']} → chance {chance:.4f}"
    acc = float(_run(history, run_id)["test_acc"].iloc[-1])
    return acc, f"{run_id} {acc:.4f}"


def main_effect_larger(history: pd.DataFrame, runs: pd.DataFrame, larger: list, smaller: list,
                       num_classes: int = 10, tolerance: float = DEFAULT_TOLERANCE) -> tuple[str, str]:
    """In a factorial ablation, removing factor ``larger`` costs more final val accuracy than
    removing factor ``smaller``. Each factor is [[runs with it], [the same runs without it]]; its
    main effect is mean(with) − mean(without). A run that diverged scores chance
    (1/num_classes): a network that cannot be trained is as useless as one that does not learn."""
    chance = 1.0 / num_classes
    effects, parts = [], []
    for name, (with_, without) in (("larger", larger), ("smaller", smaller)):
        scored = [[_final_or_chance(history, runs, r, chance) for r in _group(side)] for side in (with_, without)]
        means = [float(np.mean([acc for acc, _ in side])) for side in scored]
        effects.append(means[0] - means[1])
        parts.append(f"removing the {name}-claimed factor: mean val acc {means[0]:.4f} "
                     f"({', '.join(t for _, t in scored[0])}) → {means[1]:.4f} ({', '.join(t for _, t in scored[1])}), "
                     f"effect {effects[-1]:+.4f}")
    return combine([_sign(effects[0] - effects[1], tolerance)]), "; ".join(parts)


# ---------------------------------------------------------------------------- probe checks
# Evidence frames come from ``landscape.probes`` (see ``ProbeResults.evidence``).

def _flatten(value: Any) -> list:
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _flatten(v)]
    return [value]


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, pd.DataFrame) and value.empty)


def _group(value: Any) -> list[str]:
    return [str(v) for v in _flatten(value)]


def _half(row: pd.Series) -> float:
    half = (float(row["ci_high"]) - float(row["ci_low"])) / 2
    return 0.0 if pd.isna(half) else half


def _compare_intervals(high: list[tuple[float, float]], low: list[tuple[float, float]], tolerance: float) -> int:
    """+1 if every (value, half-width) of ``high`` lies above every one of ``low`` by more than the
    half-widths and ``tolerance``, -1 if every one lies below, else 0 (overlap: a tie)."""
    if min(v - h for v, h in high) > max(v + h for v, h in low) + tolerance:
        return 1
    if max(v + h for v, h in high) < min(v - h for v, h in low) - tolerance:
        return -1
    return 0


def _seeds_note(groups: list[list[str]]) -> str:
    if all(len(g) == 1 for g in groups):
        return " (one run per side: a property of these runs, not a difference beyond seed-to-seed variation)"
    return " (a group wins only if all its seeds lie beyond all seeds of the other)"


def _noise_rows(noise: pd.DataFrame, run_id: str, metric: str, scale: str = "absolute") -> pd.DataFrame:
    rows = noise[(noise["run"] == run_id) & (noise["metric"] == metric) & (noise["scale"] == scale)]
    if rows.empty:
        raise MissingEvidence(f"no {scale} weight-noise {metric} for run {run_id!r}")
    return rows.set_index("sigma").sort_index()


def more_noise_robust(noise: pd.DataFrame, robust: str, fragile: str,
                      tolerance: float = DEFAULT_TOLERANCE) -> tuple[str, str]:
    """``robust`` loses less accuracy than ``fragile`` under absolute weight noise: per σ > 0 the
    accuracy drop from σ = 0 (mean over draws) is compared; differences within the two 95%
    confidence half-widths plus ``tolerance`` are ties."""
    r, f = _noise_rows(noise, robust, "accuracy"), _noise_rows(noise, fragile, "accuracy")
    if 0.0 not in r.index or 0.0 not in f.index:
        raise MissingEvidence("the noise probe has no σ = 0 baseline")
    signs, parts = [], []
    for sigma in [s for s in r.index if s > 0 and s in f.index]:
        drop_r = float(r.loc[0.0, "mean"] - r.loc[sigma, "mean"])
        drop_f = float(f.loc[0.0, "mean"] - f.loc[sigma, "mean"])
        signs.append(_compare_intervals([(drop_f, _half(f.loc[sigma]))], [(drop_r, _half(r.loc[sigma]))], tolerance))
        parts.append(f"σ {sigma:g}: drop {robust} {drop_r:+.4f} ± {_half(r.loc[sigma]):.4f}, "
                     f"{fragile} {drop_f:+.4f} ± {_half(f.loc[sigma]):.4f}")
    if not signs:
        raise MissingEvidence("the noise probe has no σ > 0")
    return combine(signs), "accuracy drop from σ = 0 (absolute noise, mean ± 95% CI over draws): " + "; ".join(parts)


def _slice_rise(frame: pd.DataFrame, run_id: str, direction: str, split: str = "train") -> float:
    rows = frame[(frame["run"] == run_id) & (frame["direction"] == direction) & (frame["split"] == split)]
    if rows.empty:
        raise MissingEvidence(f"no {direction} slice for run {run_id!r}")
    centre = rows.loc[(rows["alpha"].abs()).idxmin(), "loss"]
    return float((rows[rows["alpha"] != 0]["loss"] - centre).mean())


def steeper_slice(slice: pd.DataFrame, steeper: str, flatter: str, tolerance: float = 0.01) -> tuple[str, str]:
    """``steeper``'s 1D slice rises more than ``flatter``'s: mean over the α grid of
    L(θ + α d) − L(θ) on the train probe set, per direction kind (filter-normalized, and the
    study's unnormalized random one when computed); differences below ``tolerance`` nats are ties."""
    signs, parts = [], []
    for direction in dict.fromkeys(slice["direction"]):
        s, f = _slice_rise(slice, steeper, direction), _slice_rise(slice, flatter, direction)
        signs.append(_sign(s - f, tolerance))
        parts.append(f"{direction} direction: mean rise {steeper} {s:+.4f}, {flatter} {f:+.4f} nats")
    return combine(signs), "; ".join(parts) + " (one direction per run)"


def _lambda(hessian: pd.DataFrame, run_id: str, method: str = "lanczos") -> float:
    rows = hessian[(hessian["run"] == run_id) & (hessian["method"] == method)]
    if rows.empty:
        raise MissingEvidence(f"no {method} λmax for run {run_id!r}")
    return float(rows["lambda_max"].iloc[0])


def _descending(values: list[list[float]], rel_tolerance: float) -> list[int]:
    """Signs for "every earlier group lies above every later one" (differences below
    ``rel_tolerance`` of the larger magnitude are ties)."""
    signs = []
    for i in range(len(values)):
        for j in range(i + 1, len(values)):
            scale = rel_tolerance * max(abs(v) for v in values[i] + values[j])
            signs.append(_compare_intervals([(v, 0.0) for v in values[i]], [(v, 0.0) for v in values[j]], scale))
    return signs


def _listing(groups: list[list[str]], value: Callable[[str], float]) -> str:
    return "; ".join(f"{'/'.join(g)} {', '.join(f'{value(r):.3g}' for r in g)}" for g in groups)


def lambda_max_order(hessian: pd.DataFrame, order: list, rel_tolerance: float = 0.05) -> tuple[str, str]:
    """The groups of ``order`` (run ids or lists of them) have descending top Hessian eigenvalues
    (Lanczos on the train probe set): every earlier group above every later one. Differences
    below ``rel_tolerance`` of the larger value are ties; overlapping seeds are ties."""
    groups = [_group(g) for g in order]
    signs = _descending([[_lambda(hessian, r) for r in g] for g in groups], rel_tolerance)
    text = f"λmax (Lanczos, train probe set): {_listing(groups, lambda r: _lambda(hessian, r))}"
    if "study" in set(hessian["method"]):
        text += f"; study method (power iteration, one mini-batch): {_listing(groups, lambda r: _lambda(hessian, r, 'study'))}"
    return combine(signs), text + _seeds_note(groups)


def _sharpness(sharpness: pd.DataFrame, run_id: str, kind: str, column: str = "sharpness") -> float:
    rows = sharpness[(sharpness["run"] == run_id) & (sharpness["kind"] == kind)]
    if rows.empty:
        raise MissingEvidence(f"no {kind} sharpness for run {run_id!r}")
    return float(rows[column].iloc[0])


def sharpness_order(sharpness: pd.DataFrame, order: list, kind: str = "sam", rel_tolerance: float = 0.05
                    ) -> tuple[str, str]:
    """The groups of ``order`` have descending ε-sharpness of ``kind`` (``sam`` or ``asam``, after
    the projected ascent, train probe set); the other kind and SAM's single first-order step are
    given as evidence."""
    groups = [_group(g) for g in order]
    signs = _descending([[_sharpness(sharpness, r, kind) for r in g] for g in groups], rel_tolerance)
    other = "asam" if kind == "sam" else "sam"
    text = (f"{kind.upper()} sharpness (nats): {_listing(groups, lambda r: _sharpness(sharpness, r, kind))}; "
            f"first-order step: {_listing(groups, lambda r: _sharpness(sharpness, r, kind, 'first_order'))}")
    if other in set(sharpness["kind"]):
        text += f"; {other.upper()}: {_listing(groups, lambda r: _sharpness(sharpness, r, other))}"
    return combine(signs), text + _seeds_note(groups)


def well_conditioned(hessian: pd.DataFrame, runs: list, max_condition: float = 10.0) -> tuple[str, str]:
    """Each run's Hessian on the train probe set is positive definite with condition number
    λmax/λmin ≤ ``max_condition``. Negative curvature (the condition number is then undefined)
    or a larger ratio counts against; a smallest eigenvalue that did not converge is a tie."""
    signs, parts = [], []
    for run_id in _group(runs):
        rows = hessian[(hessian["run"] == run_id) & (hessian["method"] == "lanczos")]
        if rows.empty:
            raise MissingEvidence(f"no Hessian for run {run_id!r}")
        row = rows.iloc[0]
        if pd.notna(row["condition_number"]):
            signs.append(1 if row["condition_number"] <= max_condition else -1)
            parts.append(f"{run_id}: λmax {row['lambda_max']:.3g}, λmin {row['lambda_min']:.3g}, "
                         f"κ = {row['condition_number']:.3g}")
        else:
            signs.append(-1 if pd.notna(row["lambda_min"]) else 0)
            bound = "≤ " if row.get("lambda_min_kind") == "upper bound" else ""
            parts.append(f"{run_id}: λmax {row['lambda_max']:.3g}, λmin {bound}{row['lambda_min']:.3g} "
                         f"({row['condition_status']})")
    return combine(signs), "; ".join(parts) + f" ('well-conditioned' read as 0 < κ ≤ {max_condition:g})"


def least_flat(flatness: pd.DataFrame, least: list, others: list) -> tuple[str, str]:
    """The runs of ``least`` have a larger flatness |ΔL| than every group of ``others`` (mean and
    95% CI over noise draws; overlapping intervals are ties)."""
    def intervals(group: list[str]) -> list[tuple[float, float]]:
        out = []
        for run_id in group:
            rows = flatness[flatness["run"] == run_id]
            if rows.empty:
                raise MissingEvidence(f"no flatness for run {run_id!r}")
            out.append((float(rows["mean"].iloc[0]), _half(rows.iloc[0])))
        return out

    top = _group(least)
    rest = [_group(g) for g in others]
    signs = [_compare_intervals(intervals(top), intervals(g), 0.0) for g in rest]
    parts = [f"{r} {m:.4g} ± {h:.2g}" for g in [top] + rest for r, (m, h) in zip(g, intervals(g))]
    return combine(signs), "|ΔL| (mean ± 95% CI over draws): " + "; ".join(parts) + _seeds_note([top] + rest)


def flatter_generalizes_better(hessian: pd.DataFrame, history: pd.DataFrame, runs: list,
                               tolerance: float = DEFAULT_TOLERANCE, rel_tolerance: float = 0.05
                               ) -> tuple[str, str]:
    """Of two runs, the one with the lower λmax (Lanczos) has the higher final val accuracy. A λmax
    difference below ``rel_tolerance`` or an accuracy difference below ``tolerance`` is a tie."""
    a, b = _group(runs)[:2]
    lam = {r: _lambda(hessian, r) for r in (a, b)}
    acc = {r: float(_run(history, r)["test_acc"].iloc[-1]) for r in (a, b)}
    flat, sharp = (a, b) if lam[a] <= lam[b] else (b, a)
    lam_sign = _sign(lam[sharp] - lam[flat], rel_tolerance * max(abs(lam[a]), abs(lam[b])))
    acc_sign = _sign(acc[flat] - acc[sharp], tolerance)
    verdict = INCONCLUSIVE if lam_sign == 0 or acc_sign == 0 else combine([acc_sign])
    return verdict, (f"λmax {flat} {lam[flat]:.3g} vs {sharp} {lam[sharp]:.3g}; final val acc {flat} "
                     f"{acc[flat]:.4f} vs {sharp} {acc[sharp]:.4f} ({acc[flat] - acc[sharp]:+.4f}); "
                     "one pair of runs, not a correlation")


def loss_barrier(barriers: pd.DataFrame, pairs: list, min_barrier: float = 0.1, smallest: list | None = None,
                 tolerance: float = 0.01) -> tuple[str, str]:
    """Every pair's linear path has a loss barrier of at least ``min_barrier`` nats on every split
    and BatchNorm treatment (below half of it counts against); with ``smallest`` (a pair), that
    pair's barrier is also below every other pair's (by more than ``tolerance`` nats)."""
    signs, parts = [], []
    by_pair = {}
    for a, b in [tuple(_group(p)) for p in pairs]:
        rows = barriers[(barriers["run_a"] == a) & (barriers["run_b"] == b)]
        if rows.empty:
            raise MissingEvidence(f"no barrier for pair {a}–{b}")
        by_pair[(a, b)] = rows
        for _, row in rows.iterrows():
            value = float(row["loss_barrier"])
            signs.append(1 if value >= min_barrier else (-1 if value < min_barrier / 2 else 0))
            parts.append(f"{a}–{b} {row['split']} ({row['bn']}) {value:.4f}")
    text = f"loss barrier (nats; 'a barrier' means ≥ {min_barrier:g}): " + "; ".join(parts)
    if smallest is not None:
        key = tuple(_group(smallest))
        if key not in by_pair:
            raise MissingEvidence(f"pair {'–'.join(key)} is not among the pairs")
        mine = by_pair[key]
        for other, rows in by_pair.items():
            if other == key:
                continue
            merged = mine.merge(rows, on=["split", "bn"], suffixes=("_s", "_o"))
            signs += [_sign(float(o - s), tolerance) for s, o in zip(merged["loss_barrier_s"], merged["loss_barrier_o"])]
        text += f"; smallest expected for {'–'.join(key)}"
    return combine(signs), text


def noise_thresholds(noise: pd.DataFrame, runs: list, small: list = (0.01, 0.02), large: float = 0.1, loss_tolerance: float = 0.1,
                     collapse_drop: float = 0.3) -> tuple[str, str]:
    """Absolute weight noise: at every σ in ``small`` the mean test loss moves by at most
    ``loss_tolerance`` × the σ = 0 loss ("barely changes"), and at σ = ``large`` the mean accuracy
    drops by at least ``collapse_drop`` ("collapses"; less than half of it counts against)."""
    signs, parts = [], []
    for run_id in _group(runs):
        loss, acc = _noise_rows(noise, run_id, "loss"), _noise_rows(noise, run_id, "accuracy")
        for sigma in [*map(float, small), float(large)]:
            if sigma not in loss.index or 0.0 not in loss.index:
                raise MissingEvidence(f"σ {sigma:g} (or σ = 0) was not measured")
        base_loss, base_acc = float(loss.loc[0.0, "mean"]), float(acc.loc[0.0, "mean"])
        for sigma in map(float, small):
            change = float(loss.loc[sigma, "mean"]) - base_loss
            signs.append(1 if abs(change) <= loss_tolerance * base_loss else -1)
            parts.append(f"{run_id} σ {sigma:g}: test loss {change:+.4f} from {base_loss:.4f}")
        drop = base_acc - float(acc.loc[float(large), "mean"])
        signs.append(1 if drop >= collapse_drop else (-1 if drop < collapse_drop / 2 else 0))
        parts.append(f"{run_id} σ {float(large):g}: accuracy {float(acc.loc[float(large), 'mean']):.4f} "
                     f"(drop {drop:+.4f} from {base_acc:.4f})")
    return combine(signs), "; ".join(parts)


CHECKS: dict[str, Check] = {
    "converges_faster": Check(converges_faster, "history", ("faster", "slower")),
    "generalizes_better": Check(generalizes_better, "history", ("better", "worse")),
    "diverges": Check(diverges, "runs", ("diverged",), scores_divergence=True),
    "does_not_learn": Check(does_not_learn, "history", ("runs",)),
    "main_effect_larger": Check(main_effect_larger, ("history", "runs"), ("larger", "smaller"),
                                scores_divergence=True),
    "more_noise_robust": Check(more_noise_robust, "noise", ("robust", "fragile")),
    "steeper_slice": Check(steeper_slice, "slice1d", ("steeper", "flatter")),
    "lambda_max_order": Check(lambda_max_order, "hessian", ("order",)),
    "sharpness_order": Check(sharpness_order, "sharpness", ("order",)),
    "well_conditioned": Check(well_conditioned, "hessian", ("runs",)),
    "least_flat": Check(least_flat, "flatness", ("least", "others")),
    "flatter_generalizes_better": Check(flatter_generalizes_better, ("hessian", "history"), ("runs",)),
    "loss_barrier": Check(loss_barrier, "barriers", ("pairs",)),
    "noise_thresholds": Check(noise_thresholds, "noise", ("runs",)),
}


def parse(params: ReportParams) -> list[ClaimSpec]:
    """``reference.claims`` as ClaimSpecs; a malformed entry is a ParamsError naming it."""
    raw = (params.reference.model_extra or {}).get("claims") or []
    run_ids = [r.id for r in params.runs]
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
            for run_id in _flatten(args[key]):
                if run_id not in run_ids:
                    raise ParamsError(f"{where}.args.{key}: unknown run id {run_id!r}; runs are {run_ids}")
        specs.append(ClaimSpec(entry["text"], name, args))
    return specs


def evaluate(params: ReportParams, evidence: Mapping[str, Any]) -> list[Claim]:
    """Every claim of ``params`` with its verdict; ``evidence`` maps what checks need (e.g.
    ``{"history": history_frame}``) and a check whose evidence is missing stays pending."""
    claims = []
    for spec in parse(params):
        if spec.check is None:
            claims.append(Claim(spec.text, PENDING, "no check implemented yet"))
            continue
        check = CHECKS[spec.check]
        stopped = _stopped_runs(evidence.get("runs"), [r for key in check.run_args for r in _flatten(spec.args[key])],
                                ("failed",) if check.scores_divergence else ("failed", "diverged"))
        if stopped:
            claims.append(Claim(spec.text, PENDING, f"pending because {'; '.join(stopped)}", spec.check))
            continue
        missing = [k for k in check.keys if evidence.get(k) is None]
        if missing:
            claims.append(Claim(spec.text, PENDING, f"needs {', '.join(missing)}, which this report did not compute",
                                spec.check))
            continue
        try:
            verdict, text = check.function(*[evidence[k] for k in check.keys], **spec.args)
        except MissingEvidence as exc:
            verdict, text = PENDING, str(exc)
        claims.append(Claim(spec.text, verdict, text, spec.check))
    return claims


def _stopped_runs(runs: pd.DataFrame | None, run_ids: list[str], stopping: tuple[str, ...]) -> list[str]:
    """"run X diverged at epoch N" (or "run X failed (why)") for each of ``run_ids`` whose status
    is in ``stopping`` (``runs``: the status frame of ``tables.run_status``; without it, none).
    A failed run (its training job raised or its worker died) has no outcome to score, so it
    stops even the checks that score divergence."""
    if runs is None or _empty(runs):
        return []
    found = []
    for run_id in dict.fromkeys(run_ids):
        row = runs[runs["run"] == run_id]
        if row.empty or row.iloc[0]["status"] not in stopping:
            continue
        row = row.iloc[0]
        if row["status"] == "failed":
            found.append(f"run {run_id} failed ({row.get('error', 'no reason recorded')})")
            continue
        epoch = row["diverged_epoch"]
        found.append(f"run {run_id} {outcome(row['status'], None if pd.isna(epoch) else int(epoch))}")
    return found


def counts(claims: list[Claim]) -> dict[str, int]:
    """Number of claims per verdict (every verdict present, zeros included)."""
    return {v: sum(c.verdict == v for c in claims) for v in VERDICTS}


def table(claims: list[Claim]) -> pd.DataFrame:
    return pd.DataFrame([{"claim (study)": c.text, "verdict": c.verdict, "evidence (this run)": c.evidence}
                         for c in claims], columns=["claim (study)", "verdict", "evidence (this run)"])


def summary_sentence(claims: list[Claim]) -> str:
    """How many claims were checked and how they came out, in one sentence."""
    c = counts(claims)
    checked = len(claims) - c[PENDING]
    text = (f"Of the study's {len(claims)} claims, {checked} can be checked against this run's numbers: "
            f"{c[SUPPORTED]} supported, {c[CONTRADICTED]} contradicted, {c[INCONCLUSIVE]} inconclusive.")
    if c[PENDING]:
        text += (f" {c[PENDING]} stay pending; the evidence column says why (a run it needs did not complete, "
                 "a number this report does not compute, or no check yet).")
    return text + (" Where a side is a single seed, a verdict reports this run, not a difference beyond "
                   "seed-to-seed variation; differences within a check's tolerance or within the confidence "
                   "intervals over noise draws count as ties (the evidence column gives the numbers).")
