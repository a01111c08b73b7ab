"""The base of every validated settings model (params files, probe settings), and how a failed
validation reads: one line naming each problem's key (:func:`describe_errors`)."""
from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

MAX_ERRORS_SHOWN, MAX_TEXT_SHOWN = 5, 120  # an error line names this many problems, quoting this much of each


class Strict(BaseModel):
    """Unknown keys are errors; validated values are frozen (hashable, safe to share); a float
    is finite (``.inf`` or ``.nan`` for a learning rate or a tolerance is an error, not a run)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def quoted(text: str) -> str:
    """``text`` quoted for an error line, cut to MAX_TEXT_SHOWN characters."""
    return repr(text if len(text) <= MAX_TEXT_SHOWN else text[:MAX_TEXT_SHOWN] + "…")


def describe_errors(exc: ValidationError, kind: type[BaseModel]) -> str:
    """What is wrong, each problem naming its key: unknown keys grouped by where they are (with the
    allowed keys once), at most MAX_ERRORS_SHOWN of anything, keys cut to MAX_TEXT_SHOWN characters."""
    def where(loc: tuple) -> str:
        return ".".join(quoted(p)[1:-1] if isinstance(p, str) else str(p) for p in loc)

    unknown: dict[tuple, list[str]] = {}
    problems = []
    for err in exc.errors():
        if err["type"] == "extra_forbidden":
            unknown.setdefault(tuple(err["loc"][:-1]), []).append(str(err["loc"][-1]))
        else:
            message = "required key is missing" if err["type"] == "missing" else err["msg"][:300]
            problems.append(f"{where(err['loc']) or '<top level>'}: {message}")
    for parent, keys in unknown.items():
        allowed = f"allowed keys: {_fields_at(kind, parent)}"
        if len(keys) == 1:
            problems.insert(0, f"{where(parent + (keys[0],))}: unknown key {quoted(keys[0])}; {allowed}")
            continue
        shown = ", ".join(quoted(k) for k in keys[:MAX_ERRORS_SHOWN])
        more = f" and {len(keys) - MAX_ERRORS_SHOWN} more" if len(keys) > MAX_ERRORS_SHOWN else ""
        problems.insert(0, f"{where(parent) or '<top level>'}: unknown keys {shown}{more}; {allowed}")
    more = [f"and {len(problems) - MAX_ERRORS_SHOWN} more"] if len(problems) > MAX_ERRORS_SHOWN else []
    return "; ".join(problems[:MAX_ERRORS_SHOWN] + more)


def _fields_at(kind: type[BaseModel], loc: tuple) -> list[str]:
    """Allowed keys of the params model found by walking ``loc`` from ``kind``."""
    current: Any = kind
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or part not in current.model_fields:
            return []
        current = _model_in(current.model_fields[part].annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(current.model_fields)
    return []


def _model_in(annotation: Any) -> Any:
    """The BaseModel class inside an annotation such as Optional[X] or list[X], else the annotation."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if isinstance(found, type) and issubclass(found, BaseModel):
            return found
    return annotation
