"""Allowed values of a constructor's parameters, declared beside the parameter's type.

scikit-learn's ``_parameter_constraints`` idea, written in the annotation itself::

    dropout: Annotated[float, Interval(0, 1, closed="left")] = 0.0
    hidden_sizes: Annotated[list, Items(int, Interval(1, 65536))] = (128, 64)

The registry reads these annotations from the source with ``ast`` (no import), so the same objects
serve ``dlnotes models NAME``, config loading and the check before a model or dataset is built.
``check`` is the one validator: a value's type (``int``, ``float``, ``bool``, ``str``, ``list``),
its ``Literal`` choices and its constraints; every refusal is one ``UserError`` line naming the key,
the value and what is allowed. No torch here: config errors answer before torch is imported.
"""

from __future__ import annotations

import math
from typing import Any

from dlnotes.errors import UserError, did_you_mean


class Constraint:
    """A rule a value must satisfy: ``problem(value)`` says what is wrong (or ``None``)."""

    def problem(self, value: Any) -> str | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


def _num(v: float) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


class Interval(Constraint):
    """A number in an interval; ``None`` leaves that side open. ``closed``: both, left, right, neither."""

    def __init__(self, low: float | None = None, high: float | None = None, closed: str = "both"):
        if closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"closed must be both, left, right or neither, not {closed!r}")
        self.low, self.high, self.closed = low, high, closed

    def __repr__(self) -> str:
        return f"Interval({self.low!r}, {self.high!r}, closed={self.closed!r})"

    def describe(self) -> str:
        left_closed = self.closed in ("both", "left")
        right_closed = self.closed in ("both", "right")
        if self.low is not None and self.high is not None:
            return f"in {'[' if left_closed else '('}{_num(self.low)}, {_num(self.high)}{']' if right_closed else ')'}"
        if self.low is not None:
            return f"{'>=' if left_closed else '>'} {_num(self.low)}"
        if self.high is not None:
            return f"{'<=' if right_closed else '<'} {_num(self.high)}"
        return "finite"

    def problem(self, value: Any) -> str | None:
        if not _is_number(value):
            return "must be a number"
        if not math.isfinite(value):
            return "must be a finite number"
        low_ok = self.low is None or (value >= self.low if self.closed in ("both", "left") else value > self.low)
        high_ok = self.high is None or (value <= self.high if self.closed in ("both", "right") else value < self.high)
        return None if low_ok and high_ok else f"must be {self.describe()}"


class Options(Constraint):
    """One of a fixed set of values (``Literal[...]`` says the same for the registry)."""

    def __init__(self, *values: Any):
        self.values = tuple(values)

    def __repr__(self) -> str:
        return f"Options{self.values!r}"

    def describe(self) -> str:
        return "one of: " + ", ".join(map(str, self.values))

    def problem(self, value: Any) -> str | None:
        same = any(value == v and type(value) is type(v) for v in self.values)
        if same:
            return None
        if isinstance(value, str):
            return f"is not allowed{did_you_mean(value, self.values)}"
        return f"must be {self.describe()}"


class Items(Constraint):
    """A list whose every item has ``type`` and meets ``constraints``; ``min_len``/``max_len`` bound its length."""

    def __init__(self, type: type, *constraints: Constraint, min_len: int = 0, max_len: int = 1024):
        self.type, self.constraints, self.min_len, self.max_len = type, constraints, min_len, max_len

    def __repr__(self) -> str:
        return f"Items({self.type.__name__}, {', '.join(map(repr, self.constraints))})"

    def describe(self) -> str:
        each = " and ".join(c.describe() for c in self.constraints)
        return f"a list of {self.min_len}..{self.max_len} {self.type.__name__}s" + (f", each {each}" if each else "")

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, (list, tuple)):
            return f"must be {self.describe()}"
        if not self.min_len <= len(value) <= self.max_len:
            return f"must be {self.describe()} (it has {len(value)} items)"
        for i, item in enumerate(value):
            bad = type_problem(self.type.__name__, item)
            bad = bad or next((p for c in self.constraints if (p := c.problem(item))), None)
            if bad:
                return f"item {i} {bad}"
        return None


class Mapping(Constraint):
    """A mapping of names to values: every value meets ``values`` (``Mapping(Options("number", "date"))``),
    or only the ``keys`` given are allowed, each value meeting its own constraint
    (``Mapping(keys={"number": Options("median", "mean")})``). A problem names the key: ``.number: ...``."""

    def __init__(self, values: Constraint | None = None, keys: dict[str, Constraint] | None = None):
        self.values, self.keys = values, keys

    def __repr__(self) -> str:
        return f"Mapping({self.values!r}, keys={self.keys!r})"

    def describe(self) -> str:
        if self.keys is not None:
            return "a mapping: " + "; ".join(f"{k}: {c.describe().removeprefix('one of: ')}"
                                             for k, c in self.keys.items())
        return "a mapping of names to " + (self.values.describe().removeprefix("one of: ")
                                           if self.values is not None else "values")

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, dict):
            return f"must be {self.describe()}"
        for key, item in value.items():
            if not isinstance(key, str):
                return f"key {key!r} must be text (quote it in YAML)"
            rule = self.values if self.keys is None else self.keys.get(key)
            if rule is None and self.keys is not None:
                return f".{key}: not a key here{did_you_mean(key, self.keys)}"
            bad = rule.problem(item) if rule is not None else None
            if bad:
                shown = repr(item) if len(repr(item)) <= 80 else repr(item)[:77] + "..."
                return f".{key}: {shown} {bad}" if bad.startswith("is not allowed") else f".{key}: {bad} (got {shown})"
        return None


# the names an annotation may use; the registry evaluates nothing else
CONSTRAINTS = {"Interval": Interval, "Options": Options, "Items": Items, "Mapping": Mapping}
TYPES = {"int": int, "float": float, "str": str, "bool": bool, "list": list}


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def type_problem(expected: str | None, value: Any) -> str | None:
    """What is wrong with ``value`` as an ``expected`` (int, float, bool, str, list), or ``None``."""
    ok = {
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: _is_number(v) and math.isfinite(v),
        "bool": lambda v: isinstance(v, bool),
        "str": lambda v: isinstance(v, str) and "\x00" not in v,
        "list": lambda v: isinstance(v, (list, tuple)),
        "tuple": lambda v: isinstance(v, (list, tuple)),
    }.get(expected or "")
    if ok is None or ok(value):
        return None
    if expected == "float" and _is_number(value):
        return "must be a finite number"
    noun = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
            "list": "a list", "tuple": "a list"}[expected]
    return f"must be {noun}"


def check(where: str, value: Any, type: str | None = None, choices: tuple | None = None,
          constraints: tuple[Constraint, ...] = (), optional: bool = False) -> None:
    """Raises ``UserError('where: must be ... (got value)')`` unless ``value`` is allowed.

    ``optional``: ``None`` is allowed (the parameter defaults to ``None``).
    """
    if value is None and optional:
        return
    if choices is not None:  # the choices say everything (Literal["auto", True, False] mixes types)
        problem = Options(*choices).problem(value)
    else:
        problem = type_problem(type, value)
    for c in constraints:
        problem = problem or c.problem(value)
    if problem and problem.startswith("."):  # a mapping's problem names its key: where.key: ...
        raise UserError(f"{where}{problem}")
    if problem:
        shown = repr(value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise UserError(f"{where}: {shown} {problem}" if problem.startswith("is not allowed")
                        else f"{where}: {problem} (got {shown})")


def describe(type: str | None, choices: tuple | None, constraints: tuple[Constraint, ...]) -> str:
    """``'float in [0, 1)'``, ``'one of: avg, max'``: what a parameter accepts, for ``dlnotes models NAME``."""
    if choices:
        return Options(*choices).describe()
    parts = [type] if type and not any(isinstance(c, (Items, Mapping)) for c in constraints) else []
    parts += [c.describe() for c in constraints]
    return " ".join(parts)
