"""A designed grid of models in a params file (``design``): the full factorial of a few
hyperparameters of one zoo model, each a model option or a training key, which ``ReportParams``
turns into its ``runs`` (a training key a run may not change is refused there, naming it). A
design may also be a mapping of block id -> such a factorial (a study that varies step size and
momentum under full-batch descent for two models, and batch size under SGD); a profile changes a
block by its id.
"""
from __future__ import annotations

import itertools
import json
import math
import re
from typing import Any, Literal, Optional

from pydantic import Field, model_validator

from ..core.schema import Strict
from ..learning.models import MODELS

ModelName = Literal[tuple(sorted(MODELS))]  # type: ignore[valid-type]


class FactorParams(Strict):
    """One hyperparameter of a designed grid: the model ``option`` or the ``training`` key it sets
    (one of the two) and its ``levels``."""

    option: Optional[str] = None
    training: Optional[str] = None
    levels: list[Any] = Field(min_length=2)

    @model_validator(mode="after")
    def _one_target(self) -> "FactorParams":
        if (self.option is None) == (self.training is None):
            raise ValueError("a factor sets either a model option or a training key: give one of 'option', 'training'")
        if len({json.dumps(v, sort_keys=True) for v in self.levels}) != len(self.levels):
            raise ValueError(f"levels {self.levels} repeat a level")
        return self


# columns of the grid's models table (``analysis.grid``) a factor's name would overwrite
RESERVED = {"config", "run", "label", "seed", "epochs", "cap", "stop", "sam", "asam", "trace", "margin", "layers"}
MAX_GRID = 256  # configurations a design may generate (each trained once per seed)


class DesignParams(Strict):
    """A full-factorial grid of one zoo ``model``: every combination of the ``factors``' levels is
    a configuration (a generated ``runs`` entry, with the fixed ``options`` and the fixed
    ``training`` changes), trained with ``seeds``. A configuration's id is ``id`` and each
    factor's name with its level's index (``g_width0_depth1``); its label names the levels
    (``width 16, depth 3``), after ``label`` when given (``GD, MLP: lr 0.1, momentum 0``)."""

    id: str = Field(default="g", pattern=r"^[a-z][a-z0-9]*$")
    label: Optional[str] = None
    model: ModelName
    options: dict[str, Any] = {}
    training: dict[str, Any] = {}
    factors: dict[str, FactorParams] = Field(min_length=1)
    seeds: list[int] = Field(min_length=1)

    @model_validator(mode="after")
    def _named_and_bounded(self) -> "DesignParams":
        bad = [name for name in self.factors if not re.fullmatch(r"[a-z][a-z0-9]*", name)]
        if bad:
            raise ValueError(f"factor name(s) {bad}: lower-case letters and digits, starting with a letter")
        taken = sorted(set(self.factors) & RESERVED)
        if taken:
            raise ValueError(f"factor name(s) {taken} name a column every model has; choose another")
        targets = [("option", f.option) if f.option is not None else ("training", f.training)
                   for f in self.factors.values()]
        shared = sorted({f"{kind} {name}" for kind, name in targets if targets.count((kind, name)) > 1})
        if shared:
            raise ValueError(f"two factors set the same {', '.join(shared)}")
        fixed = sorted(set(self.options) & {name for kind, name in targets if kind == "option"}) + \
            sorted(set(self.training) & {name for kind, name in targets if kind == "training"})
        if fixed:
            raise ValueError(f"option(s) {fixed} are both fixed and a factor")
        count = math.prod(len(f.levels) for f in self.factors.values())
        if count > MAX_GRID:
            raise ValueError(f"{count} configurations; a design generates at most {MAX_GRID}")
        return self

    def levels_of(self) -> dict[str, dict[str, Any]]:
        """Configuration id -> {factor name: level}, in the order the grid generates them (the
        first factor varies slowest)."""
        names = list(self.factors)
        return {f"{self.id}_" + "_".join(f"{n}{i}" for n, i in zip(names, idx)):
                {n: self.factors[n].levels[i] for n, i in zip(names, idx)}
                for idx in itertools.product(*(range(len(f.levels)) for f in self.factors.values()))}

    def runs(self) -> list[dict]:
        """The generated ``runs`` entries (plain data, validated as any ``runs`` entry)."""
        out = []
        for config, levels in self.levels_of().items():
            options = {**self.options, **{self.factors[n].option: v for n, v in levels.items()
                                          if self.factors[n].option is not None}}
            training = {**self.training, **{self.factors[n].training: v for n, v in levels.items()
                                            if self.factors[n].training is not None}}
            label = ", ".join(f"{n} {v}" for n, v in levels.items())
            label = label if self.label is None else f"{self.label}: {label}"
            out.append({"id": config, "label": label, "model": self.model, "options": options, "seeds": self.seeds,
                        "training": training})
        return out


def is_blocks(design: Any) -> bool:
    """Whether a params file's ``design`` is a mapping of block id -> factorial (not one factorial)."""
    return isinstance(design, dict) and "model" not in design and all(isinstance(v, dict) for v in design.values())


def blocks_of(design: "DesignParams | dict[str, DesignParams] | None") -> list[DesignParams]:
    """A report's design as a list of blocks (none without a design)."""
    return [] if design is None else list(design.values()) if isinstance(design, dict) else [design]
