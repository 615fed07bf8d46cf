"""A sweep's search space: ``SPACE.yaml``, read and checked before any trial runs.

    method: random            # grid | random | tpe  [default: tpe with the sweep extra installed, else random]
    trials: 20                # how many trials [default: the grid's size; 20]; --trials overrides
    metric: accuracy          # the validation metric to optimise [default: the task's]
    direction: maximize       # [default: the task's for its metric; minimize for loss, mse, mae]
    prune: false              # the median rule on each epoch's validation metric [default: true for tpe]
    grid_points: 3            # grid: values per numeric parameter, ends included
    parameters:               # dotted config keys (as in KEY=VALUE overrides)
      train.optimizer.lr: {loguniform: [1.0e-4, 1.0e-1]}
      model.dropout: {uniform: [0.0, 0.5]}
      data.batch_size: {int: [32, 128]}
      model.activation: {choice: [relu, tanh]}

Ludwig's ``hyperopt`` and W&B sweeps write their spaces the same way (dotted keys, a distribution per
key). Every key and every bound is checked by the config's own validation (``dlnotes.config``): the
base config with that key set to each bound (or each choice) must load, so an unknown key or a value out
of the parameter's range is exit 2 naming ``SPACE.yaml``, the key and the value, before anything runs.

``grid`` and ``random`` are built in: a trial's parameters are a pure function of its place in the plan
(the grid in order; draws of ``numpy.random.default_rng(seed)``), so a sweep continued or spread over
machines runs the same trials. ``tpe`` asks Optuna's TPE sampler.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any

from dlnotes.errors import UserError

KINDS = ("loguniform", "uniform", "int", "choice")
METHODS = ("grid", "random", "tpe")
KEYS = ("method", "trials", "metric", "direction", "prune", "grid_points", "parameters")
DEFAULT_TRIALS = 20
MAXIMIZED = ("accuracy", "f1", "precision", "recall", "r2")
MINIMIZED = ("loss", "mse", "mae", "rmse")


@dataclass(frozen=True)
class Dim:
    """One parameter: a dotted config key and its distribution (bounds, or the values to choose from)."""

    key: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    values: tuple = ()

    def bounds(self) -> list[Any]:
        """The values the config must accept: both ends, or every choice."""
        return list(self.values) if self.kind == "choice" else [self.low, self.high]

    def grid(self, points: int) -> list[Any]:
        """``points`` values, ends included: evenly spaced (in log for loguniform; whole numbers for int)."""
        if self.kind == "choice":
            return list(self.values)
        if self.kind == "int":
            return sorted({round(self.low + (self.high - self.low) * i / max(points - 1, 1)) for i in range(points)})
        if self.kind == "loguniform":
            lo, hi = math.log(self.low), math.log(self.high)
            return [math.exp(lo + (hi - lo) * i / max(points - 1, 1)) for i in range(points)]
        return [self.low + (self.high - self.low) * i / max(points - 1, 1) for i in range(points)]

    def draw(self, rng) -> Any:
        """One random value: log-uniform, uniform, a whole number in [low, high], or one of the values."""
        if self.kind == "loguniform":
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        if self.kind == "uniform":
            return float(rng.uniform(self.low, self.high))
        if self.kind == "int":
            return int(rng.integers(self.low, self.high + 1))
        return self.values[int(rng.integers(len(self.values)))]

    def encode(self, value: Any) -> Any:
        """The value as Optuna stores it: a choice as its JSON text (Optuna's categories are plain scalars,
        a choice may be a list), numbers as they are."""
        return json.dumps(value) if self.kind == "choice" else value

    def decode(self, stored: Any) -> Any:
        return json.loads(stored) if self.kind == "choice" and isinstance(stored, str) else stored

    def suggest(self, trial) -> Any:
        """The value of an Optuna trial (a planned trial's fixed value, or the sampler's choice)."""
        if self.kind == "choice":
            return self.decode(trial.suggest_categorical(self.key, [self.encode(v) for v in self.values]))
        if self.kind == "int":
            return trial.suggest_int(self.key, self.low, self.high)
        return trial.suggest_float(self.key, self.low, self.high, log=self.kind == "loguniform")

    def as_dict(self) -> dict[str, Any]:
        return {self.kind: list(self.values) if self.kind == "choice" else [self.low, self.high]}


@dataclass
class Space:
    params: dict[str, Dim]
    method: str = "random"
    trials: int | None = None
    metric: str | None = None
    direction: str | None = None
    prune: bool = False
    grid_points: int = 3
    source: str = "space"

    def plan(self, trials: int, seed: int) -> list[dict[str, Any]]:
        """The parameters of the first ``trials`` trials of a grid (in order) or random sweep."""
        if self.method == "grid":
            keys = list(self.params)
            points = product(*(self.params[k].grid(self.grid_points) for k in keys))
            return [dict(zip(keys, p)) for p, _ in zip(points, range(trials))]
        import numpy as np

        rng = np.random.default_rng(seed)
        return [{k: d.draw(rng) for k, d in self.params.items()} for _ in range(trials)]

    def grid_size(self) -> int:
        return math.prod(len(d.grid(self.grid_points)) for d in self.params.values())

    def suggest(self, trial) -> dict[str, Any]:
        return {k: d.suggest(trial) for k, d in self.params.items()}

    def as_dict(self) -> dict[str, Any]:
        """The space as written (what a study records, and what joining commands must match)."""
        return {"method": self.method, "metric": self.metric, "direction": self.direction, "prune": self.prune,
                "grid_points": self.grid_points, "parameters": {k: d.as_dict() for k, d in self.params.items()}}


def overrides(params: dict[str, Any]) -> list[str]:
    """``KEY=VALUE`` overrides setting ``params`` (JSON values: YAML reads them back as the same values)."""
    return [f"{key}={json.dumps(value)}" for key, value in params.items()]


def trial_config(base: dict[str, Any], params: dict[str, Any], source: str = "sweep"):
    """The config of one trial: the base config (a dict) with ``params`` set, validated."""
    from dlnotes.config import apply_overrides, validate

    return validate(apply_overrides(base, overrides(params)), source=source)


def read_space(path: Path, base: dict[str, Any], optuna: bool) -> Space:
    """Reads and checks ``SPACE.yaml`` against the base config (a dict); exit 2 on anything wrong."""
    from dlnotes.yamlfile import read_yaml

    return parse_space(read_yaml(path), base, optuna, str(path))


def parse_space(data: Any, base: dict[str, Any], optuna: bool, src: str) -> Space:
    """A space from its mapping (a SPACE.yaml file's, or what a study recorded), checked against ``base``."""
    if not isinstance(data, dict):
        raise UserError(f"{src}: a space is a mapping with a 'parameters' section")
    unknown = [k for k in data if k not in KEYS]
    if unknown:
        from dlnotes.errors import did_you_mean

        raise UserError(f"{src}: unknown key '{unknown[0]}'{did_you_mean(unknown[0], KEYS)}")
    params = data.get("parameters")
    if not isinstance(params, dict) or not params:
        raise UserError(f"{src}: 'parameters' must map dotted config keys to distributions, e.g. "
                        "train.optimizer.lr: {loguniform: [1.0e-4, 1.0e-1]}")
    space = Space({str(k): _dim(src, str(k), v) for k, v in params.items()}, source=src)
    _settings(space, data, src, optuna)
    for dim in space.params.values():
        for value in dim.bounds():
            try:
                trial_config(base, {dim.key: value}, source=src)
            except UserError as e:
                raise UserError(f"{src}: parameters.{dim.key} = {value!r} is not a valid config value: "
                                f"{str(e).removeprefix(src + ': ')}") from None
    return space


def _dim(src: str, key: str, spec: Any) -> Dim:
    where = f"{src}: parameters.{key}"
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in KINDS:
        raise UserError(f"{where}: give one distribution: {{loguniform: [lo, hi]}}, {{uniform: [lo, hi]}}, "
                        "{int: [lo, hi]} or {choice: [a, b, ...]}")
    kind, arg = next(iter(spec.items()))
    if kind == "choice":
        if not isinstance(arg, list) or not arg:
            raise UserError(f"{where}: choice needs a non-empty list of values")
        if len({json.dumps(v, sort_keys=True) for v in arg}) != len(arg):
            raise UserError(f"{where}: choice lists a value twice")
        return Dim(key, kind, values=tuple(arg))
    low, high = _bounds(where, kind, arg)
    return Dim(key, kind, low, high)


def _bounds(where: str, kind: str, arg: Any) -> tuple[float, float]:
    """[low, high] of a numeric distribution: two finite numbers (whole for int), low below high."""
    number = int if kind == "int" else (int, float)
    if not (isinstance(arg, list) and len(arg) == 2 and all(isinstance(v, number) and not isinstance(v, bool)
                                                            and math.isfinite(v) for v in arg)):
        raise UserError(f"{where}: {kind} needs [low, high], two {'whole ' if kind == 'int' else ''}numbers")
    low, high = arg
    if not (low <= high if kind == "int" else low < high):
        raise UserError(f"{where}: low ({low}) must be below high ({high})")
    if kind == "loguniform" and low <= 0:
        raise UserError(f"{where}: loguniform needs low > 0 (got {low})")
    return low, high


def _settings(space: Space, data: dict[str, Any], src: str, optuna: bool) -> None:
    method = data.get("method", "tpe" if optuna else "random")
    if method not in METHODS:
        raise UserError(f"{src}: method '{method}' is not one of: {', '.join(METHODS)}")
    space.method = method
    for key, low in (("trials", 1), ("grid_points", 2)):
        value = data.get(key, getattr(space, key))
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < low):
            raise UserError(f"{src}: {key} must be a whole number >= {low} (got {value!r})")
        setattr(space, key, value)
    metric, direction = data.get("metric"), data.get("direction")
    if metric is not None and not isinstance(metric, str):
        raise UserError(f"{src}: metric must be a name, e.g. accuracy or loss")
    if direction not in (None, "maximize", "minimize"):
        raise UserError(f"{src}: direction must be maximize or minimize (got {direction!r})")
    space.metric, space.direction = metric, direction
    prune = data.get("prune", method == "tpe")
    if not isinstance(prune, bool):
        raise UserError(f"{src}: prune must be true or false")
    space.prune = prune
    if (method == "tpe" or prune) and not optuna:
        raise UserError(f"{src}: {'method tpe' if method == 'tpe' else 'prune: true'} needs Optuna: "
                        "pip install 'dlnotes[sweep]' (grid and random run without it)")


def objective(space: Space, task) -> tuple[str, bool]:
    """The validation metric to optimise and whether higher is better: the space's, else the task's."""
    metric = space.metric or task.metric
    if space.direction is not None:
        return metric, space.direction == "maximize"
    if metric == task.metric:
        return metric, task.higher_is_better
    if metric in MAXIMIZED + MINIMIZED:
        return metric, metric in MAXIMIZED
    raise UserError(f"{space.source}: metric '{metric}': give its direction (maximize or minimize)")
