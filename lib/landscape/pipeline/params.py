"""Report parameters: one YAML file per report in ``params/``, validated before anything runs.

A file holds the ``full`` profile (the source study's exact setup, or the closest one where the
study leaves details open, listed under ``assumptions``) and, under ``profiles``, partial
overrides such as ``smoke`` (tiny data and epochs). ``load_params(path, profile, overrides)``
deep-merges base <- profile <- overrides and validates the result; any unknown key, wrong type,
unknown model, dataset or option is a :class:`ParamsError` naming the key and the allowed values.
The study's published numbers live in ``reference`` and are shown only as labelled references.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from ..core.errors import ParamsError
from ..core.paths import REPO_ROOT
from ..core.schema import Strict, describe_errors, quoted, read_yaml
from ..learning.data import DATASETS, NORMALIZATIONS, is_available, locate
from ..learning.models import Traits, model_options, traits
from ..learning.training import SCHEDULES, DataSpec, RunSpec, TrainConfig
from ..probes import REGISTRY, optional_settings
from ..probes.base import EvalSetParams, SetsSpec
from ..probes.measures import MeasuresParams
from ..probes.trajectory import TrajectoryParams
from .design import DesignParams, ModelName, blocks_of, is_blocks

PARAMS_DIR = REPO_ROOT / "params"
BASE_PROFILE = "full"
NAME_PATTERN = r"^[a-z0-9_]+$"  # a report, a notebook, an output folder: a plain name, never a path
FIGURE_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"  # a figure's key (figures/<key>.svg, id figure-<key>)
MAX_PARAMS_BYTES = 1 << 20  # a params file is a few KB; a larger one is refused unread

DatasetName = Literal[tuple(sorted(DATASETS))]  # type: ignore[valid-type]
NormalizationName = Literal[tuple(sorted(NORMALIZATIONS))]  # type: ignore[valid-type]
ScheduleName = Literal[SCHEDULES]  # type: ignore[valid-type]
PositiveInt = Field(gt=0)


class DataSource(Strict):
    """Where and how to load the dataset (see landscape.learning.data)."""

    name: DatasetName
    normalization: NormalizationName
    root: Optional[str] = None
    download: bool = False
    pad_to: Optional[int] = Field(default=None, gt=0)
    channels: Optional[Literal[1, 3]] = None
    train_subset: Optional[int] = Field(default=None, gt=0)
    test_subset: Optional[int] = Field(default=None, gt=0)
    subset_seed: int = 0

    def spec(self) -> DataSpec:
        return DataSpec(**self.model_dump(include=set(DataSpec.__dataclass_fields__)))


class StandIn(DataSource):
    """Offline dataset used when the study's dataset is missing (reports show a banner)."""

    reason: str


class DataParams(DataSource):
    stand_in: Optional[StandIn] = None


def is_stand_in(data: DataSource) -> bool:
    return isinstance(data, StandIn)


class TrainingParams(Strict):
    epochs: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    lr: float = Field(gt=0)
    momentum: float = Field(default=0.9, ge=0, lt=1)
    nesterov: bool = False
    weight_decay: float = Field(default=0.0, ge=0)
    schedule: ScheduleName = "constant"
    step_size: int = Field(default=1, gt=0)
    gamma: float = Field(default=0.1, gt=0, le=1)
    augment: bool = False
    eval_chunk: int = Field(default=1000, gt=0)
    stop_train_loss: Optional[float] = Field(default=None, gt=0)  # a common stopping point; ``epochs`` caps it
    # full-batch gradient descent (one step per epoch): record every few epochs, cap the steps
    # (``landscape.learning.training``, Records)
    record_steps: Optional[int] = Field(default=None, gt=0)
    max_steps: Optional[int] = Field(default=None, gt=0)

    def config(self, train_probe: tuple[int, int] | None = None) -> TrainConfig:
        return TrainConfig(**self.model_dump(), train_probe=train_probe)


class RunParams(Strict):
    """One configuration, trained once per seed: an id used by claims, probes and tables, a zoo
    model with options, and its seeds: ``seeds`` when listed, else ``replicates`` seeds counting
    up from ``seed`` (the study's seed, where it states one, so the first replicate is the run
    that matches the study's setup)."""

    id: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    label: str
    model: ModelName
    options: dict[str, Any] = {}
    seed: Optional[int] = None
    seeds: Optional[list[int]] = Field(default=None, min_length=1)
    # this configuration's changes to the report's ``training`` (e.g. lr, batch_size, weight_decay):
    # a designed grid varies them one at a time; validated with the report's training
    training: dict[str, Any] = {}

    @property
    def traits(self) -> Traits:
        """The model's family and layers (BatchNorm, skip, dropout), read off the built module."""
        return traits(self.model, **self.options)

    @model_validator(mode="after")
    def _known_options(self) -> "RunParams":
        allowed = model_options(self.model)
        unknown = sorted(set(self.options) - set(allowed))
        if unknown:
            raise ValueError(f"model {self.model!r} has no option(s) {unknown}; allowed: {sorted(allowed)}")
        try:  # built on the meta device: an option value the model refuses is a params error
            self.traits
        except (TypeError, ValueError) as exc:
            raise ValueError(f"model {self.model!r} with options {self.options}: {exc}") from None
        if self.seeds is not None:
            if self.seed is not None:
                raise ValueError("give seed (the first of `replicates` seeds) or seeds (a list), not both")
            if len(set(self.seeds)) != len(self.seeds):
                raise ValueError(f"seeds {self.seeds} repeat a seed")
        return self

    def seed_list(self, replicates: int) -> list[int]:
        """The seeds of this configuration, the study's first."""
        if self.seeds is not None:
            return list(self.seeds)
        first = 0 if self.seed is None else self.seed
        return [first + i for i in range(replicates)]


@dataclass(frozen=True)
class Replicate:
    """One trained run: configuration ``config`` (a ``runs`` entry) trained with ``seed``;
    ``study_seed`` marks the first seed of its configuration (the study's, where it states one)."""

    id: str  # "<config>_s<seed>"
    config: str
    seed: int
    label: str  # "<configuration label>, seed <seed>"
    study_seed: bool


def replicate_id(config: str, seed: int) -> str:
    return f"{config}_s{seed}"


#: ``probes``: the probe sets, and one optional entry per probe of the registry (its settings).
ProbeParams = create_model("ProbeParams", __base__=Strict, __doc__="The probes a report asks for.",
                           eval_set=(EvalSetParams, EvalSetParams()), **optional_settings())


#: The keys a ``reference`` block may hold: each is shown by the report tables or figures, or read
#: by a claim check; a number under any other key would silently never appear.
REFERENCE_KEYS = {
    "claims": "the study's claims, plain text or {text, check, args}",
    "thresholds": "name -> {value, reason}: a declared threshold overridden, with the reason (landscape.verdicts.thresholds)",
    "reference_keys": "run id -> the study's name for it (one model per architecture in the study)",
    "first_epochs": "run -> [[epoch, train loss, train acc, val loss, val acc], ...]",
    "final_epoch": "run -> {train_loss, train_acc, test_loss, test_acc} at the last epoch",
    "final_epoch_note": "how the final-epoch numbers were read off the study (caption)",
    "gap": "run -> final generalization gap (train acc - val acc)",
    "noise_accuracy": "run -> {sigma: test accuracy under absolute weight noise}",
    "noise_loss": "run -> {sigma: test loss under absolute weight noise}",
    "flatness_order": "the study's architectures from least to most flat (no numbers published)",
    "barriers": "the study's description of its interpolation barriers (no numbers published)",
    "interpolation_max_loss": "largest loss on the linear path between the two minima",
    "lambda_max": "run -> top Hessian eigenvalue",
    "condition_number": "run -> the study's condition number",
    "sam_sharpness": "run -> SAM sharpness",
    "grad_norm": "run -> gradient norm",
    "parameters": "run -> parameter count",
    "test_acc": "run -> final val accuracy (None: no number, e.g. diverged)",
    "final_train_loss": "run -> final train loss",
    "final_test_loss": "run -> final val loss",
    "generalization_gap": "run -> final generalization gap",
    "train_loss_range": "run -> [min, max] train loss on the study's 2D surface",
    "test_loss_range": "run -> [min, max] val loss on the study's 2D surface",
    "diverged": "run -> the epoch at which the study's run diverged",
}


class Reference(BaseModel):
    """Published numbers of the source study, labelled: ``source`` and the keys of REFERENCE_KEYS."""

    model_config = ConfigDict(extra="allow", frozen=True)
    source: str

    @model_validator(mode="after")
    def _known_keys(self) -> "Reference":
        unknown = sorted(set(self.model_extra or {}) - set(REFERENCE_KEYS))
        if unknown:
            raise ValueError(f"unknown key(s) {unknown}; a reference may hold: source, {', '.join(REFERENCE_KEYS)}")
        return self


class ReportParams(Strict):
    report: str = Field(pattern=NAME_PATTERN)
    title: str
    study: str
    notebook: str = Field(pattern=NAME_PATTERN)  # notebooks/<notebook>.ipynb
    question: str
    assumptions: list[str] = []
    data: DataParams
    training: TrainingParams
    replicates: int = Field(default=1, gt=0)  # seeds per configuration (unless a run lists its seeds)
    runs: list[RunParams] = Field(min_length=1)
    # a designed grid, or a mapping of block id -> grid: generates ``runs``
    design: Optional[DesignParams | dict[str, DesignParams]] = None
    probes: ProbeParams = ProbeParams()
    reference: Reference
    # the key of the figure that shows the answer best: the page shows it with the answer it opens with
    answer_figure: Optional[str] = Field(default=None, pattern=FIGURE_PATTERN)
    profile: str = BASE_PROFILE

    @model_validator(mode="before")
    @classmethod
    def _generated_runs(cls, data: Any) -> Any:
        """With ``design``, ``runs`` is generated from it (and may not be given as well)."""
        if isinstance(data, dict) and data.get("design") is not None:
            if data.get("runs"):
                raise ValueError("give runs or a design that generates them, not both")
            given = data["design"]
            named = {f"design.{k}": {**v, "id": k} for k, v in given.items()} if is_blocks(given) else {"design": given}
            blocks = []
            for where, block in named.items():
                try:
                    blocks.append(DesignParams.model_validate(block))
                except ValidationError as exc:
                    raise ValueError(f"{where}: {describe_errors(exc, DesignParams)}") from None
            design = {b.id: b for b in blocks} if is_blocks(given) else blocks[0]
            data = {**data, "design": design, "runs": [run for block in blocks for run in block.runs()]}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> "ReportParams":
        ids = [r.id for r in self.runs]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"runs: duplicate id(s) {duplicates}")
        run_ids = [rep.id for rep in self.replicas]
        clashes = sorted({i for i in run_ids if run_ids.count(i) > 1})
        if clashes:
            raise ValueError(f"runs: the run id(s) {clashes} name two (configuration, seed) pairs; rename a configuration")
        for i, run in enumerate(self.runs):
            unknown = sorted(set(run.training) - set(TrainingParams.model_fields))
            if unknown:
                raise ValueError(f"runs.{i}.training: unknown key(s) {unknown}; allowed: {sorted(TrainingParams.model_fields)}")
            try:
                self.training_of(run.id)
            except ValidationError as exc:
                raise ValueError(f"runs.{i}.training: {describe_errors(exc, TrainingParams)}") from None
        if self.probes.interpolation:
            for config in self.probes.interpolation.configs:
                if config not in ids:
                    raise ValueError(f"probes.interpolation.configs: unknown run id {config!r}; runs are {ids}")
                if len(self.config(config).seed_list(self.replicates)) < 2:
                    raise ValueError(f"probes.interpolation.configs: run {config!r} has one seed; interpolation "
                                     "needs two seeds of a configuration (set replicates or seeds)")
        return self

    @property
    def blocks(self) -> list[DesignParams]:
        """The design's blocks (one for a single factorial; none without a design)."""
        return blocks_of(self.design)

    def config(self, config_id: str) -> RunParams:
        return next(r for r in self.runs if r.id == config_id)

    def training_of(self, config_id: str) -> TrainingParams:
        """The training of configuration ``config_id``: the report's, with the run's ``training``
        changes."""
        changes = self.config(config_id).training
        return TrainingParams.model_validate({**self.training.model_dump(), **changes}) if changes else self.training

    @property
    def replicates_of(self) -> dict[str, list[Replicate]]:
        """Configuration id -> its trained runs, study seed first (params order)."""
        return {r.id: [Replicate(replicate_id(r.id, seed), r.id, seed, f"{r.label}, seed {seed}", i == 0)
                       for i, seed in enumerate(r.seed_list(self.replicates))] for r in self.runs}

    @property
    def replicas(self) -> list[Replicate]:
        """Every trained run of the report, configuration by configuration."""
        return [rep for reps in self.replicates_of.values() for rep in reps]

    def seed_pairs(self, config_id: str) -> list[tuple[str, str]]:
        """Disjoint pairs of a configuration's runs, in seed order ((s0, s1), (s2, s3), ...): the
        pairs a two-run probe compares, independent of each other."""
        reps = self.replicates_of[config_id]
        return [(reps[i].id, reps[i + 1].id) for i in range(0, len(reps) - 1, 2)]

    def probe_targets(self, probes: "ProbeParams | None" = None) -> dict[str, list[tuple[str, ...]]]:
        """Probe name -> the runs (one-run probes) or run pairs (interpolation: seed pairs of each
        named configuration) it measures: all of them, or with ``seeds: study`` the study-seed
        run (the first pair) of each configuration. ``probes``: another set of probes to plan on
        these runs (default: the report's own)."""
        targets = {}
        for name in ProbeParams.model_fields:
            cfg = getattr(probes or self.probes, name)
            if name == "eval_set" or cfg is None:
                continue
            study_only = cfg.seeds == "study"
            if REGISTRY[name].runs == 2:
                targets[name] = [pair for config in cfg.configs
                                 for pair in self.seed_pairs(config)[:1 if study_only else None]]
            else:
                targets[name] = [(rep.id,) for rep in self.replicas if rep.study_seed or not study_only]
        return targets

    def resolve_data(self) -> DataSource:
        """The study's dataset if it can be loaded (or downloaded), else the stand-in; with neither,
        the DatasetNotFoundError that says how to get the data. ``is_stand_in`` tells which."""
        if self.data.download or is_available(self.data.name, self.data.root) or self.data.stand_in is None:
            locate(self.data.name, self.data.root, self.data.download)
            return self.data
        locate(self.data.stand_in.name, self.data.stand_in.root)
        return self.data.stand_in

    def run_specs(self, data: DataSource | None = None) -> dict[str, RunSpec]:
        """RunSpec per trained run (replicate id), on ``data`` (default: :meth:`resolve_data`).
        Every run also measures its train loss and accuracy in evaluation mode on the train probe
        set after each epoch."""
        spec = (data or self.resolve_data()).spec()
        probe = (self.probes.eval_set.train_size, self.probes.eval_set.seed)
        configs = {r.id: r for r in self.runs}
        return {rep.id: RunSpec.make(spec, configs[rep.config].model, self.training_of(rep.config).config(probe),
                                     rep.seed, **configs[rep.config].options)
                for rep in self.replicas}

    def sets_spec(self, data: DataSource | None = None, probes: "ProbeParams | None" = None) -> SetsSpec:
        """The probe sets of this report on ``data`` (default: :meth:`resolve_data`), as the
        report's probes draw them (or ``probes``, another set of probes planned on its runs)."""
        return SetsSpec((data or self.resolve_data()).spec(), (probes or self.probes).eval_set)

    def digest(self) -> str:
        """A short hash of the validated parameters (for manifests)."""
        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:12]


class SynthesisParams(Strict):
    """A report across studies: the trained runs of the study reports in ``studies`` (each
    loaded in this report's profile, so its runs are the ones the study trains), probed with the
    shared ``measures`` on probe sets drawn by ``eval_set`` from each study's data, and the runs of
    ``trajectory_studies`` (default: every study) with ``trajectory`` (None: not). It trains no
    run a study does not: a study's training keeps the snapshots the trajectory will ask for
    (:func:`snapshots_asked`); a run cached without them (trained before, or under other
    overrides) is trained again for them."""

    report: str = Field(pattern=NAME_PATTERN)
    title: str
    study: str
    notebook: str = Field(pattern=NAME_PATTERN)  # notebooks/<notebook>.ipynb
    question: str
    studies: list[str] = Field(min_length=2)
    eval_set: EvalSetParams = EvalSetParams()
    measures: MeasuresParams = MeasuresParams()
    trajectory: Optional[TrajectoryParams] = None
    trajectory_studies: Optional[list[str]] = None
    # a designed-grid report (params with a ``design``) whose models, trained to a common stopping
    # point and probed with its own probes, give the conditioned evidence the answers lead with
    grid: Optional[str] = Field(default=None, pattern=NAME_PATTERN)
    # a study of the optimizer (params with a ``trajectory`` probe) whose runs, traced with its own
    # probes, join the studies' in the out-of-sample prediction of training difficulty
    dynamics: Optional[str] = Field(default=None, pattern=NAME_PATTERN)
    answer_figure: Optional[str] = Field(default=None, pattern=FIGURE_PATTERN)  # as a study report's
    profile: str = BASE_PROFILE

    @model_validator(mode="after")
    def _distinct(self) -> "SynthesisParams":
        repeated = sorted({s for s in self.studies if self.studies.count(s) > 1})
        if repeated:
            raise ValueError(f"studies: {repeated} listed twice")
        if self.grid is not None and self.grid in self.studies:
            raise ValueError(f"grid: {self.grid!r} is also one of the studies; a grid's models are not pooled")
        if self.dynamics is not None and self.dynamics in [*self.studies, self.grid]:
            raise ValueError(f"dynamics: {self.dynamics!r} is also a study or the grid")
        unknown = sorted(set(self.trajectory_studies or ()) - set(self.studies))
        if unknown:
            raise ValueError(f"trajectory_studies: {unknown} not in studies {self.studies}")
        return self

    def study_params(self) -> list[ReportParams]:
        """Each study's params in this report's profile (a study that lacks the profile, or
        whose params are invalid, is a ParamsError naming its file)."""
        for name in self.studies:
            if "studies" in read_yaml(resolve_path(name), MAX_PARAMS_BYTES):
                raise ParamsError(f"studies: {name!r} is not a study report (it lists studies itself)")
        return [load_params(name, self.profile) for name in self.studies]

    def grid_params(self) -> ReportParams | None:
        """The grid report's params in this report's profile (None without a grid; a report
        without a design is a ParamsError naming it)."""
        if self.grid is None:
            return None
        found = load_params(self.grid, self.profile)
        if not isinstance(found, ReportParams) or not isinstance(found.design, DesignParams):
            raise ParamsError(f"grid: {self.grid!r} is not a designed grid (its params have no design of one block)")
        return found

    def dynamics_params(self) -> ReportParams | None:
        """The optimizer study's params in this report's profile (None without one; a report
        without a trajectory probe is a ParamsError naming it)."""
        if self.dynamics is None:
            return None
        found = load_params(self.dynamics, self.profile)
        if not isinstance(found, ReportParams) or found.probes.trajectory is None:
            raise ParamsError(f"dynamics: {self.dynamics!r} is not a study with a trajectory probe")
        return found

    @property
    def probes(self) -> "ProbeParams":
        """Every probe this report plans: the shared measures, and the trajectory if asked."""
        return ProbeParams(eval_set=self.eval_set, measures=self.measures, trajectory=self.trajectory)

    def probes_for(self, study: str) -> "ProbeParams":
        """The probes planned on every run of ``study`` (a report name): the shared measures, and
        the trajectory if the study is one of ``trajectory_studies``."""
        traced = self.trajectory_studies is None or study in self.trajectory_studies
        return self.probes if traced else self.probes.model_copy(update={"trajectory": None})

    def digest(self) -> str:
        """A short hash of the validated parameters and of every study's (for manifests)."""
        studies = [p.digest() for p in self.study_params()]
        grid, dynamics = self.grid_params(), self.dynamics_params()
        payload = {"synthesis": self.model_dump(mode="json"), "studies": studies,
                   **({"grid": grid.digest()} if grid is not None else {}),
                   **({"dynamics": dynamics.digest()} if dynamics is not None else {})}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


AnyParams = typing.Union[ReportParams, SynthesisParams]


# ---------------------------------------------------------------------------- loading

def deep_merge(base: dict, override: dict) -> dict:
    """``base`` with ``override`` merged in: mappings merge recursively, anything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def resolve_path(path: str | Path) -> Path:
    """The params file named by ``path``: a report name (no folder, no suffix) is
    ``params/<name>.yaml``; anything else is a path, from the working directory, else (a relative
    path not found there, as in a notebook run from ``notebooks/``) from the repository root."""
    text = str(path)
    available = sorted(f.stem for f in PARAMS_DIR.glob("*.yaml"))
    shown = quoted(text)
    if text and "/" not in text and os.sep not in text and not text.endswith((".yaml", ".yml")):
        candidate = PARAMS_DIR / f"{text}.yaml"
        if candidate.is_file():
            return candidate
        raise ParamsError(f"no report named {shown}; available reports: {available} (or give a params file path)")
    p = Path(text).expanduser()
    if not p.exists() and not p.is_absolute() and (REPO_ROOT / p).exists():
        p = REPO_ROOT / p
    if p.is_dir():
        raise ParamsError(f"params file {shown} is a directory; give a .yaml file or a report name: {available}")
    if not p.is_file():
        elsewhere = not p.is_absolute() and Path.cwd().resolve() != REPO_ROOT
        looked = f" (looked from {Path.cwd()} and {REPO_ROOT})" if elsewhere else ""
        raise ParamsError(f"params file {shown} not found{looked}; available reports: {available}")
    return p


def load_params(path: str | Path, profile: str = BASE_PROFILE, overrides: dict | None = None) -> AnyParams:
    """Read, merge and validate a report's params (see module docstring): a study report's
    (:class:`ReportParams`), or a synthesis's (:class:`SynthesisParams`: the file has
    ``studies``; each study's params are validated too), claim checks included. Every profile of
    the file is validated, so a mistake in one is reported whichever profile is asked for."""
    file = resolve_path(path)
    raw, profiles = _read_profiles(file, profile)
    kind = SynthesisParams if "studies" in raw else ReportParams
    for other in [BASE_PROFILE] + sorted(profiles):
        if other != profile:
            _validate(kind, file, other, deep_merge(raw, profiles.get(other, {})))
    merged = deep_merge(raw, profiles.get(profile, {}))
    params = _validate(kind, file, profile, deep_merge(merged, overrides or {}), overridden=bool(overrides))
    if isinstance(params, SynthesisParams):
        params.study_params()
        params.grid_params()
        params.dynamics_params()
    else:  # its claim checks too: every command refuses what a render would
        from ..verdicts.claims import parse

        try:
            parse(params)
        except ParamsError as exc:
            where = f"profile {profile!r}" + (" with --set overrides" if overrides else "")
            raise ParamsError(f"{file} ({where}): {exc}") from None
    return params


def _read_profiles(file: Path, profile: str) -> tuple[dict, dict]:
    """A params file's base params and its ``profiles`` (name -> partial params), ``profile``
    being one of them or the base one: a ParamsError otherwise."""
    raw = read_yaml(file, MAX_PARAMS_BYTES)
    profiles = raw.pop("profiles", {}) or {}
    if not isinstance(profiles, dict) or not all(isinstance(v, dict) for v in profiles.values()):
        raise ParamsError(f"{file}: 'profiles' must map profile names to mappings of params")
    allowed_profiles = [BASE_PROFILE] + sorted(profiles)
    if profile not in allowed_profiles:
        raise ParamsError(f"{file}: unknown profile {profile!r}; allowed: {allowed_profiles}")
    return raw, profiles


def snapshots_asked(study: ReportParams) -> dict[str, tuple[float, ...]]:
    """Run id -> the epoch-1 fractions of the snapshots that a synthesis in ``params/`` will ask
    of that run of ``study``, each synthesis read in the study's profile (the first to ask wins;
    one that lacks the profile, does not trace the study or is invalid asks none, and its own
    render says why). Training the study keeps them, so the synthesis trains no run again."""
    asked: dict[str, tuple[float, ...]] = {}
    for file in sorted(PARAMS_DIR.glob("*.yaml")):
        try:
            raw, profiles = _read_profiles(file, study.profile)
            if not (isinstance(raw.get("studies"), list) and study.report in raw["studies"]):
                continue
            # the synthesis's own params only: load_params would also load its studies, building
            # their models (seconds for the ResNet-20s), on every graph a traced study is in
            merged = deep_merge(raw, profiles.get(study.profile, {}))
            synthesis = _validate(SynthesisParams, file, study.profile, merged)
        except ParamsError:
            continue
        plan = synthesis.probes_for(study.report)
        if plan.trajectory is not None:
            for run_ids in study.probe_targets(plan)["trajectory"]:
                asked.setdefault(run_ids[0], tuple(plan.trajectory.early))
    return asked


def _validate(kind: type[BaseModel], file: Path, profile: str, merged: dict, overridden: bool = False) -> AnyParams:
    merged = {**merged, "profile": profile}
    try:
        return kind.model_validate(merged)
    except ValidationError as exc:
        where = f"profile {profile!r}" + (" with --set overrides" if overridden else "")
        raise ParamsError(f"{file} ({where}): {describe_errors(exc, kind)}") from None


