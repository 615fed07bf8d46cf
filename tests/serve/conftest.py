"""Fixtures of the ``dlnotes serve`` tests: five tiny runs with an input file each, the real server started by
its command on them (once per test process), an HTTP client for it, and ``dlnotes predict`` to compare with."""

import csv
import json
import math
import re
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from types import SimpleNamespace
from urllib import error, request
from urllib.parse import urlsplit

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
PENGUINS = ROOT / "examples" / "penguins.csv"


def _cfg(data: dict, model: dict, epochs: int = 1):
    from dlnotes.config import validate

    return validate({"name": "s", "seed": 0, "data": {"val_fraction": 0.0, **data}, "model": model,
                     "train": {"epochs": epochs, "optimizer": {"name": "adam", "lr": 0.01}}})


def _digit_photos(folder: Path) -> Path:
    """Dark digits on light paper of several sizes, as people photograph them (and one JPEG)."""
    from PIL import Image, ImageDraw, ImageFont

    folder.mkdir(parents=True)
    for i, d in enumerate("0123456789"):
        img = Image.new("L", (60 + 7 * i, 90), 235)
        ImageDraw.Draw(img).text((10, 4), d, fill=20, font=ImageFont.load_default(size=64))
        img.save(folder / f"{d}.{'jpg' if d == '7' else 'png'}")
    return folder


def _penguin_rows(path: Path) -> Path:
    """20 penguins with an island never seen and missing cells, the target columns left in (as a CSV has them)."""
    rows = pd.read_csv(PENGUINS).iloc[::17].head(20).reset_index(drop=True)
    rows.loc[0, "island"] = "Atlantis"
    rows.loc[1, "sex"] = None
    rows.loc[2, "bill_length_mm"] = None
    rows.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def serve_runs(tmp_path_factory):
    """(run folders, input files) by name: a digit MLP on 16x16 images (a LeNet costs 3 s more), a penguin classifier and regression ("mass"), a
    series forecaster with a diff transform, a character GRU and an LSTM reading digits row by row ("rows", a
    sequence classifier); a few seconds of training in all."""
    pytest.importorskip("starlette", reason="dlnotes serve needs the [serve] extra: pip install -e '.[serve]'")
    from dlnotes.errors import ConvergenceWarning
    from dlnotes.run import train

    tmp = tmp_path_factory.mktemp("serve")
    (tmp / "series.csv").write_text("v\n" + "".join(f"{50 + 0.1 * x + 3 * math.sin(x / 4):.4f}\n" for x in range(300)))
    (tmp / "notes.txt").write_text("the quick brown fox jumps over the lazy dog. " * 20)
    cfgs = {"digits": _cfg({"name": "digits", "image_size": 16}, {"name": "mlp", "hidden_sizes": [32]}, 2),
            "penguins": _cfg({"name": "csv", "path": str(PENGUINS), "target": "species"}, {"name": "mlp"}, 4),
            "mass": _cfg({"name": "csv", "path": str(PENGUINS), "target": "body_mass_g"}, {"name": "mlp"}, 4),
            "series": _cfg({"name": "timeseries_csv", "path": str(tmp / "series.csv"), "seq_len": 12, "horizon": 2,
                            "transform": "diff"}, {"name": "gru", "hidden_size": 8}),
            "text": _cfg({"name": "text", "path": str(tmp / "notes.txt"), "seq_len": 8},
                         {"name": "gru", "hidden_size": 8}),
            "rows": _cfg({"name": "digits_rows"}, {"name": "lstm", "hidden_size": 8})}
    from figures_off import figures_off

    with warnings.catch_warnings(), figures_off():  # serving reads weights and meta.json, never the figures
        warnings.simplefilter("ignore", ConvergenceWarning)
        paths = {name: train(c, out=tmp / "runs" / name, quiet=True).path for name, c in cfgs.items()}
    rows = _penguin_rows(tmp / "rows.csv")
    import numpy as np

    np.save(tmp / "sequences.npy", np.random.default_rng(0).random((6, 8, 8)).round(4).astype(np.float32))
    files = {"digits": _digit_photos(tmp / "photos"), "penguins": rows, "mass": rows, "series": tmp / "series.csv",
             "rows": tmp / "sequences.npy"}
    return SimpleNamespace(paths=paths, files=files)


def _start(args, log: Path, timeout: float = 180):
    """``python -m dlnotes serve ARGS --port 0``, and the URL its start line names once /health answers."""
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "dlnotes", "serve", *map(str, args), "--port", "0"],
                                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(r" at (http://\S+/) ", log.read_text())
        if found and Client(found.group(1)).get("health")[0] == 200:
            return proc, found.group(1)
        if proc.poll() is not None:
            raise AssertionError(f"the server stopped: {log.read_text()[-3000:]}")
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"the server did not start in {timeout} s: {log.read_text()[-3000:]}")


class Client:
    """HTTP to the server under test, with the standard library only."""

    def __init__(self, url: str):
        self.url = url

    def get(self, path: str) -> tuple[int | None, bytes]:
        try:
            with request.urlopen(self.url + path, timeout=60) as r:
                return r.status, r.read()
        except error.HTTPError as e:
            return e.code, e.read()
        except (ConnectionError, error.URLError):
            return None, b""

    def post(self, body: bytes, content_type: str = "application/json") -> tuple[int, dict]:
        """(status, the JSON answer) of POST /predict."""
        req = request.Request(self.url + "predict", data=body, method="POST", headers={"Content-Type": content_type})
        try:
            with request.urlopen(req, timeout=120) as r:
                return r.status, json.loads(r.read())
        except error.HTTPError as e:
            return e.code, json.loads(e.read())

    def ask(self, run: str, inputs: list, **options) -> list[dict]:
        """The predictions of a request that must succeed."""
        status, answer = self.post(json.dumps({"run": run, "inputs": inputs, **options}).encode())
        assert status == 200, answer
        assert answer["run"] == run and len(answer["predictions"]) == len(inputs)
        return answer["predictions"]

    def raw_post(self, headers: str, chunks) -> tuple[int, dict]:
        """A POST over a plain socket: the head, then ``chunks`` until the server stops reading; its answer."""
        at = urlsplit(self.url)
        with socket.create_connection((at.hostname, at.port), timeout=60) as sock:
            sock.sendall(f"POST /predict HTTP/1.1\r\nHost: {at.netloc}\r\n{headers}\r\n".encode())
            try:
                for chunk in chunks:
                    sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):  # the server answered before the body ended
                pass
            answer = b""
            while not _complete(answer):
                more = sock.recv(65536)
                if not more:
                    break
                answer += more
        head, _, body = answer.partition(b"\r\n\r\n")
        return int(head.split()[1]), json.loads(body)


def _complete(answer: bytes) -> bool:
    head, sep, body = answer.partition(b"\r\n\r\n")
    length = re.search(rb"content-length: (\d+)", head.lower())
    return bool(sep) and length is not None and len(body) >= int(length.group(1))


@pytest.fixture(scope="session")
def serve_client(serve_runs, tmp_path_factory):
    """A ``Client`` of ``dlnotes serve`` on the five runs, started once per test process."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    proc, url = _start([a for p in serve_runs.paths.values() for a in ("--run", p)], log)
    yield Client(url)
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="session")
def predicted(serve_runs, tmp_path_factory):
    """``dlnotes predict --run RUN --input GIVEN [OPTIONS]`` (the CLI, in this process) as the rows of its CSV;
    with ``--top-k`` of every class, each row also gets ``probabilities``: every class's probability."""
    from typer.testing import CliRunner

    from dlnotes.cli import app

    tmp = tmp_path_factory.mktemp("predicted")

    def rows(run: str, given, *options) -> list[dict]:
        out = tmp / f"{run}-{len(list(tmp.iterdir()))}.csv"
        r = CliRunner().invoke(app, ["predict", "--run", str(serve_runs.paths[run]), "--input", str(given),
                                     "--output", str(out), *map(str, options)])
        assert r.exit_code == 0, r.output
        return [{**row, "probabilities": _probabilities(row)} for row in csv.DictReader(out.open())]
    return rows


def _probabilities(row: dict) -> dict[str, float] | None:
    if "probability" not in row:
        return None
    out, k = {row["prediction"]: float(row["probability"])}, 2
    while f"top{k}" in row:
        out[row[f"top{k}"]] = float(row[f"top{k}_probability"])
        k += 1
    return out
