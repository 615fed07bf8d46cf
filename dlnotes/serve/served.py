"""The runs a server answers: each loaded once at start, then asked through ``Run.predict``, one call a request.

``Served.predict`` takes a checked request (``payload``), hands its inputs to ``Run.predict`` (images as a
temporary folder of their files, ``images.ImageFolder``) and turns the rows ``dlnotes predict`` writes into
the JSON answer, one entry per input:

    classification   {"prediction": CLASS, "probability": p, "probabilities": {CLASS: p, ...}}
    regression       {"prediction": number}, or [numbers] for several targets
    forecasting      {"prediction": [one number per step]}
    language         {"prediction": "the continuation"}

Numbers are the values ``dlnotes predict`` writes (6 significant digits; probabilities to 6 decimals).
A model answers one request at a time (a lock per run): torch already spreads one batch over the cores.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from dlnotes.errors import UserError
from dlnotes.serve import payload
from dlnotes.serve.describe import describe, kind
from dlnotes.serve.limits import Refused


class Served:
    """One run served under ``name``: the loaded ``Run``, its /info entry, and a lock around its model."""

    def __init__(self, name: str, run):
        self.name, self.run = name, run
        self.kind = kind(run.meta)
        self.info = describe(name, run)
        self._lock = threading.Lock()

    def predict(self, request: payload.PredictRequest) -> list[dict[str, Any]]:
        """One answer per input of ``request`` (see the module docstring); ``Refused`` for bad inputs."""
        options = {"steps": request.steps, "temperature": request.temperature, "seed": request.seed}
        try:  # each input kind has its wire format (dlnotes/serve/payload.py); text models read prompts
            return ANSWER.get(self.kind, Served._prompts)(self, request.inputs, options)
        except UserError as e:  # the value itself, refused by predict's readers
            raise Refused(422, str(e).replace("--input", "inputs")) from None

    def _images(self, items: list[Any], options: dict[str, Any]) -> list[dict[str, Any]]:
        from dlnotes.serve.images import ImageFolder

        with ImageFolder(payload.images(items), [f"inputs[{i}]" for i in range(len(items))]) as folder:
            return self._answers(self._rows(folder, options), len(items))

    def _table(self, items: list[Any], options: dict[str, Any]) -> list[dict[str, Any]]:
        columns = [c["name"] for c in self.info["input"]["columns"]]
        rows = payload.rows(items, columns, self.run.meta["dataset"].get("target_name"))
        return self._answers(self._rows(rows, options), len(items))

    def _sequences(self, items: list[Any], options: dict[str, Any]) -> list[dict[str, Any]]:
        sequences = payload.sequences(items, self.info["input"]["steps"], self.info["input"]["features"])
        return self._answers(self._rows(sequences, options), len(items))

    def _prompts(self, items: list[Any], options: dict[str, Any]) -> list[dict[str, Any]]:
        return self._answers(self._rows(payload.prompts(items), options), len(items))

    def _rows(self, inputs, options: dict[str, Any]) -> list[dict[str, Any]]:
        with self._lock:
            return self.run.predict(inputs, probabilities=True, **options)

    def _answers(self, rows: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
        if len(rows) != n:  # predict answers each input once, in order; anything else is a bug here
            raise RuntimeError(f"predict answered {len(rows)} rows for {n} inputs")
        return [self.run.task.answer(r) for r in rows]

    def _forecasts(self, items: list[Any], options: dict[str, Any]) -> list[dict[str, Any]]:
        """Series of one length go to predict together (a batch is one array); several lengths, one call each."""
        series = payload.series(items)
        lengths = sorted({len(s) for s in series})
        answers: list[dict[str, Any] | None] = [None] * len(series)
        for length in lengths:
            which = [i for i, s in enumerate(series) if len(s) == length]
            steps: dict[str, list[float]] = {}
            for r in self._rows([series[i] for i in which], options):  # rows: input, step, prediction
                steps.setdefault(r["input"], []).append(float(r["prediction"]))
            if len(steps) != len(which):
                raise RuntimeError(f"predict answered {len(steps)} series for {len(which)}")
            for i, values in zip(which, steps.values()):
                answers[i] = {"prediction": values}
        return answers  # type: ignore[return-value]


ANSWER = {"image": Served._images, "series": Served._forecasts, "tabular": Served._table,
          "sequence": Served._sequences}  # input kind -> how its wire format is read and answered


def load_runs(paths: list[Path], device: str | None = None) -> dict[str, Served]:
    """Every run of ``paths`` loaded, its model built and its weights read, served under its folder's name;
    ``UserError`` (exit 2 at start) for a folder that is not a finished run, or two runs of one name."""
    from dlnotes.trained import Run

    if not paths:
        raise UserError("--run: give at least one run directory")
    served: dict[str, Served] = {}
    where: dict[str, Path] = {}
    for path in paths:
        run = Run.load(path, device=device)
        name = run.path.resolve().name
        if name in served:
            raise UserError(f"--run: two runs are named '{name}' ('{where[name]}' and '{path}'); the server names "
                            f"runs by their folder's name, so rename one folder")
        run.model  # noqa: B018 - the weights are read (and checked) now, not at the first request
        served[name], where[name] = Served(name, run), Path(path)
    return served
