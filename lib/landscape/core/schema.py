"""The base of every validated settings model (params files, probe settings), how a settings file
is read (:func:`read_yaml`: bounded, safe YAML without aliases), and how a failed validation
reads: one line naming each problem's key (:func:`describe_errors`)."""
from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import ParamsError

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


class _NoAliasLoader(yaml.SafeLoader):
    """YAML's safe loader without anchors and aliases: a params file never needs them, and a few
    nested aliases expand to billions of values (a "billion laughs" file of 1 KB)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise ParamsError(f"YAML alias *{event.anchor} at line {event.start_mark.line + 1}: anchors and aliases "
                              "are not allowed in params (write the value out)")
        return super().compose_node(parent, index)


def parse_yaml(text: str) -> Any:
    """``text`` as YAML (safe: plain data only), refusing anchors and aliases (ParamsError)."""
    return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass


def read_yaml(file: Path, max_bytes: int) -> dict:
    """A settings file (at most ``max_bytes``, UTF-8, safe YAML without aliases, a mapping at the
    top level); anything else is a ParamsError naming the file."""
    try:
        size = file.stat().st_size
        if size > max_bytes:
            raise ParamsError(f"{size:,} bytes; a params file is at most {max_bytes:,} bytes")
        raw = parse_yaml(file.read_text(encoding="utf-8"))
    except ParamsError as exc:
        raise ParamsError(f"{file}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ParamsError(f"{file}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ParamsError(f"{file}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{file}: not valid YAML: {' '.join(str(exc).split())[:300]}") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{file}: expected a mapping at the top level")
    return raw
