"""A ``POST /predict`` request read and checked against the run it names, into what ``Run.predict`` takes.

    {"run": NAME,            optional when one run is served
     "inputs": [...],        1 to LIMITS.inputs of them, all of the run's kind (``describe.contract``):
                               image     {"image": "<base64 PNG or JPEG>"}  (or a multipart upload of files)
                               tabular   {"column": value, ...}: every training column (null: missing); the
                                         target column may be there too and is ignored
                               series    [numbers]: null for a gap
                               sequence  [T numbers] or [T [F numbers]]
                               text      "a prompt"
     "steps": 0,             a forecast's or a continuation's length (0: the horizon; 200 characters)
     "temperature": 0.8,     text: sampling temperature (0: the likeliest character, else 0.001 to 1000)
     "seed": null}           text: the sampling seed (default: the run's)

The envelope is a pydantic model; each input is checked here for its JSON type and shape, so that
what reaches ``Run.predict`` is what it documents, and the values themselves (a column's text where a
number belongs, a character the vocabulary lacks, a series too short) are refused by predict's own
readers with the one-line message ``dlnotes predict`` gives.
"""

from __future__ import annotations

import json
import math
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError, field_validator

from dlnotes.serve.images import from_base64
from dlnotes.serve.limits import LIMITS, Refused

MIN_TEMPERATURE, MAX_TEMPERATURE = 1e-3, 1e3  # as dlnotes predict --temperature


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    run: Optional[StrictStr] = None
    inputs: list[Any] = Field(min_length=1, max_length=LIMITS.inputs)
    steps: int = Field(0, ge=0, le=LIMITS.steps)
    temperature: float = Field(0.8, ge=0, le=MAX_TEMPERATURE)
    seed: Optional[int] = Field(None, ge=0, le=2**63 - 1)

    @field_validator("temperature")
    @classmethod
    def _temperature(cls, t: float) -> float:
        if 0 < t < MIN_TEMPERATURE:
            raise ValueError(f"0 (the likeliest character) or {MIN_TEMPERATURE:g} to {MAX_TEMPERATURE:g}; "
                             f"tinier values underflow to NaN probabilities")
        return t


def _constant(name: str):
    raise ValueError(f"{name} is not JSON")


def from_json(body: bytes) -> PredictRequest:
    """The request in a JSON body; ``Refused`` 400 for malformed JSON, 413 for too many inputs, 422 else."""
    try:
        data = json.loads(body, parse_constant=_constant)
    except RecursionError:
        raise Refused(400, "malformed JSON: nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise Refused(400, f"malformed JSON: {e}") from None
    return envelope(data)


def envelope(data: Any) -> PredictRequest:
    """``data`` (a JSON object, or a multipart form's fields) as a ``PredictRequest``."""
    if not isinstance(data, dict):
        raise Refused(422, f'the body must be a JSON object {{"inputs": [...]}}; got {json_type(data)}')
    if isinstance(data.get("inputs"), list) and len(data["inputs"]) > LIMITS.inputs:
        raise Refused(413, f"{len(data['inputs'])} inputs in one request; at most {LIMITS.inputs}")
    try:
        return PredictRequest.model_validate(data)
    except ValidationError as e:
        errors = e.errors(include_url=False)
        first = errors[0]
        where = ".".join(str(p) for p in first["loc"]) or "the body"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        message = first["msg"].removeprefix("Value error, ")
        raise Refused(422, f"{where}: {message}{more}") from None


def json_type(value: Any) -> str:
    """The JSON name of a value's type: object, array, string, number, boolean, null."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null",
             int: "a number", float: "a number", bytes: "a file"}
    return names.get(type(value), type(value).__name__)


def images(items: list[Any]) -> list[bytes]:
    """Each input's image bytes: ``{"image": base64}`` in JSON, or an uploaded file's bytes."""
    out = []
    for i, item in enumerate(items):
        if isinstance(item, bytes):
            out.append(item)
        elif isinstance(item, dict) and set(item) == {"image"} and isinstance(item["image"], str):
            out.append(from_base64(item["image"], f"inputs[{i}].image"))
        else:
            raise Refused(422, f'inputs[{i}]: an image model takes {{"image": "<base64 PNG or JPEG>"}}; got '
                               f'{json_type(item)}')
    return out


def rows(items: list[Any], columns: list[str], target: str | None) -> list[dict[str, Any]]:
    """Table rows: objects of scalar values naming every training column (and, ignored, the target)."""
    known = set(columns) | ({target} if target else set())
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise Refused(422, f"inputs[{i}]: a table model takes an object of column values; got {json_type(item)}")
        unknown = [c for c in item if c not in known]
        lacking = [c for c in columns if c not in item]
        if unknown or lacking:
            said = (f"unknown column(s) {', '.join(map(repr, unknown))}" if unknown else
                    f"lacks the column(s) {', '.join(map(repr, lacking))}")
            raise Refused(422, f"inputs[{i}] {said}; the model reads: {', '.join(columns)} (null: a missing value)")
        for c, v in item.items():
            if not _scalar(v):
                raise Refused(422, f"inputs[{i}].{c}: a cell is a number, a string, a boolean or null; got "
                                   f"{json_type(v)}")
    return [{c: item[c] for c in columns} for item in items]


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, bool, int)) or (isinstance(v, float) and math.isfinite(v))


def _number(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def series(items: list[Any]) -> list[list[Any]]:
    """Series: each a list of numbers (null: a gap)."""
    total = 0
    for i, item in enumerate(items):
        if not isinstance(item, list) or not all(_number(v) for v in item):
            raise Refused(422, f"inputs[{i}]: a forecaster takes a series as an array of numbers (null: a gap); "
                               f"got {_shape_of(item)}")
        total += len(item)
    _check_count(total)
    return items


def sequences(items: list[Any], steps: int, features: int) -> list[list[Any]]:
    """Sequences of ``steps`` numbers (one feature) or of ``steps`` arrays of ``features`` numbers."""
    for i, item in enumerate(items):
        if not _is_sequence(item, steps, features):
            one = "a number" if features == 1 else f"an array of {features} numbers"
            raise Refused(422, f"inputs[{i}]: a sequence is an array of {steps} steps, each {one}; got "
                               f"{_shape_of(item)}")
    _check_count(len(items) * steps * features)
    return [[[v] for v in item] if item and not isinstance(item[0], list) else item for item in items]


def _is_sequence(item: Any, steps: int, features: int) -> bool:
    def numbers(values) -> bool:
        return all(_number(v) and v is not None for v in values)

    if not isinstance(item, list) or len(item) != steps:
        return False
    if features == 1 and numbers(item):
        return True
    return all(isinstance(r, list) and len(r) == features and numbers(r) for r in item)


def prompts(items: list[Any]) -> list[str]:
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise Refused(422, f"inputs[{i}]: a language model takes a prompt (a string); got {json_type(item)}")
        if len(item) > LIMITS.prompt_chars:
            raise Refused(413, f"inputs[{i}]: a prompt of {len(item):,} characters; at most {LIMITS.prompt_chars:,}")
    return items


def _shape_of(item: Any) -> str:
    if isinstance(item, list):
        return f"an array of {len(item)} ({', '.join(sorted({json_type(v) for v in item})) or 'nothing'})"
    return json_type(item)


def _check_count(total: int) -> None:
    if total > LIMITS.series_values:
        raise Refused(413, f"{total:,} numbers in one request; at most {LIMITS.series_values:,}")
