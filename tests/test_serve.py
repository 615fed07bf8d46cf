"""``dlnotes serve`` (issue 27): the real server, started by its command on a free port, answers what
``dlnotes predict`` answers for the same inputs, takes 200 requests 16 at a time, and refuses every bad
payload with a 4xx and one line of JSON.

Reference: ``dlnotes predict`` itself (the CLI, in this process) on the same files; ``--top-k`` with every
class gives each class's probability, which the server answers as ``probabilities``.
"""

import base64
import csv
import io
import json
import math
import re
import subprocess
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib import error, request

import numpy as np
import pandas as pd
import pytest

from dlnotes.config import validate
from dlnotes.errors import ConvergenceWarning
from dlnotes.run import train

ROOT = Path(__file__).resolve().parents[1]
PENGUINS = ROOT / "examples" / "penguins.csv"
pytest.importorskip("starlette", reason="dlnotes serve needs the [serve] extra: pip install -e '.[serve]'")


def cfg(data: dict, model: dict, epochs: int = 1) -> dict:
    return validate({"name": "s", "seed": 0, "data": {"val_fraction": 0.0, **data}, "model": model,
                     "train": {"epochs": epochs, "optimizer": {"name": "adam", "lr": 0.01}}})


def digit_photos(folder: Path) -> Path:
    """Dark digits on light paper of several sizes, as people photograph them (and one JPEG)."""
    from PIL import Image, ImageDraw, ImageFont

    folder.mkdir(parents=True)
    for i, d in enumerate("0123456789"):
        img = Image.new("L", (60 + 7 * i, 90), 235)
        ImageDraw.Draw(img).text((10, 4), d, fill=20, font=ImageFont.load_default(size=64))
        img.save(folder / f"{d}.{'jpg' if d == '7' else 'png'}")
    return folder


def penguin_rows(path: Path, target: str) -> Path:
    """20 penguins with an island never seen and missing cells, the target column left in (as a CSV has it)."""
    rows = pd.read_csv(PENGUINS).iloc[::17].head(20).reset_index(drop=True)
    rows.loc[0, "island"] = "Atlantis"
    rows.loc[1, "sex"] = None
    rows.loc[2, "bill_length_mm"] = None
    rows.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_lenet):
    """Five tiny runs (an image, a table and a sequence classifier... one of each task) and an input file each."""
    tmp = tmp_path_factory.mktemp("serve")
    t = np.arange(300)
    (tmp / "series.csv").write_text("v\n" + "".join(f"{50 + 0.1 * x + 3 * math.sin(x / 4):.4f}\n" for x in t))
    (tmp / "notes.txt").write_text("the quick brown fox jumps over the lazy dog. " * 20)
    cfgs = {"digits": validate({**tiny_lenet, "train": {"epochs": 1}}),
            "penguins": cfg({"name": "csv", "path": str(PENGUINS), "target": "species"}, {"name": "mlp"}, 4),
            "mass": cfg({"name": "csv", "path": str(PENGUINS), "target": "body_mass_g"}, {"name": "mlp"}, 4),
            "series": cfg({"name": "timeseries_csv", "path": str(tmp / "series.csv"), "seq_len": 12, "horizon": 2,
                           "transform": "diff"}, {"name": "gru", "hidden_size": 8}),
            "text": cfg({"name": "text", "path": str(tmp / "notes.txt"), "seq_len": 8}, {"name": "gru", "hidden_size": 8})}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        paths = {name: train(c, out=tmp / "runs" / name, quiet=True).path for name, c in cfgs.items()}
    files = {"digits": digit_photos(tmp / "photos"), "penguins": penguin_rows(tmp / "rows.csv", "species"),
             "mass": penguin_rows(tmp / "rows_mass.csv", "body_mass_g"), "series": tmp / "series.csv"}
    return paths, files


def start(args, log: Path, timeout: float = 180):
    """``python -m dlnotes serve ARGS --port 0`` and the URL its start line names (after /health answers)."""
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "dlnotes", "serve", *map(str, args), "--port", "0"],
                                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(r" at (http://\S+/) ", log.read_text())
        if found:
            url = found.group(1)
            if get(url + "health")[0] == 200:
                return proc, url
        if proc.poll() is not None:
            raise AssertionError(f"the server stopped: {log.read_text()[-3000:]}")
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"the server did not start in {timeout} s: {log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def server(runs, tmp_path_factory):
    paths, _ = runs
    log = tmp_path_factory.mktemp("server") / "server.log"
    proc, url = start([a for p in paths.values() for a in ("--run", p)], log)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def get(url: str):
    try:
        with request.urlopen(url, timeout=60) as r:
            return r.status, r.read()
    except error.HTTPError as e:
        return e.code, e.read()
    except (ConnectionError, error.URLError):
        return None, b""


def post(url: str, body: bytes, content_type: str = "application/json"):
    """(status, parsed JSON) of a POST."""
    req = request.Request(url, data=body, method="POST", headers={"Content-Type": content_type})
    try:
        with request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read())
    except error.HTTPError as e:
        return e.code, json.loads(e.read())


def ask(server: str, run: str, inputs: list, **options):
    status, answer = post(server + "predict", json.dumps({"run": run, "inputs": inputs, **options}).encode())
    assert status == 200, answer
    assert answer["run"] == run and len(answer["predictions"]) == len(inputs)
    return answer["predictions"]


def multipart(files: list[Path], run: str) -> tuple[bytes, str]:
    boundary = "dlnotes-test-boundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="run"\r\n\r\n{run}\r\n'.encode()]
    for f in files:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{f.name}"\r\n'
                     f'Content-Type: image/png\r\n\r\n'.encode() + f.read_bytes() + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@pytest.fixture(scope="module")
def predicted(runs, tmp_path_factory):
    """``dlnotes predict --run RUN --input FILE [OPTIONS]`` (the CLI in this process) as the rows of its CSV."""
    from typer.testing import CliRunner

    from dlnotes.cli import app

    tmp = tmp_path_factory.mktemp("predicted")

    def rows(run: str, given, *options) -> list[dict]:
        out = tmp / f"{run}-{len(list(tmp.iterdir()))}.csv"
        r = CliRunner().invoke(app, ["predict", "--run", str(runs[0][run]), "--input", str(given), "--output",
                                     str(out), *map(str, options)])
        assert r.exit_code == 0, r.output
        return list(csv.DictReader(out.open()))
    return rows


def probabilities(row: dict) -> dict[str, float]:
    """Every class's probability from a ``predict --top-k K`` row (K: every class)."""
    out = {row["prediction"]: float(row["probability"])}
    k = 2
    while f"top{k}" in row:
        out[row[f"top{k}"]] = float(row[f"top{k}_probability"])
        k += 1
    return out


def test_health_lists_the_runs_and_info_describes_each(server, runs):
    paths, _ = runs
    assert json.loads(get(server + "health")[1]) == {"status": "ok", "runs": list(paths)}
    info = {r["name"]: r for r in json.loads(get(server + "info")[1])["runs"]}
    for name, path in paths.items():
        meta = json.loads((path / "meta.json").read_text())
        metrics = json.loads((path / "metrics.json").read_text())
        metrics.pop("confusion_matrix", None)
        assert (info[name]["model"], info[name]["task"]) == (meta["model"]["name"], meta["dataset"]["task"])
        assert info[name]["classes"] == meta["dataset"]["classes"] and info[name]["metrics"] == metrics
    assert info["digits"]["input"] == {"kind": "image", "image_size": 16, "channels": 1, "style": "digits"}
    types = json.loads((paths["penguins"] / "meta.json").read_text())["preprocess"]["tabular"]["types"]
    assert {c["name"]: c["type"] for c in info["penguins"]["input"]["columns"]} == types
    island = next(c for c in info["penguins"]["input"]["columns"] if c["name"] == "island")
    assert island["levels"] == ["Biscoe", "Dream", "Torgersen"]
    assert info["series"]["input"] == {"kind": "series", "length": 13, "horizon": 2}  # 12, and one more for diff
    vocab = sorted(set("the quick brown fox jumps over the lazy dog. "))
    assert info["text"]["input"] == {"kind": "text", "window": 8, "vocabulary_size": len(vocab),
                                     "vocabulary": "".join(vocab)}


def test_images_as_json_and_as_an_upload_answer_what_predict_answers(server, runs, predicted):
    folder = runs[1]["digits"]
    want = predicted("digits", folder, "--top-k", 10)
    files = sorted(folder.iterdir())
    assert [Path(r["input"]).name for r in want] == [f.name for f in files]
    as_json = ask(server, "digits", [{"image": base64.b64encode(f.read_bytes()).decode()} for f in files])
    status, upload = post(server + "predict", *multipart(files, "digits"))
    assert status == 200
    for got in (as_json, upload["predictions"]):
        assert [p["prediction"] for p in got] == [r["prediction"] for r in want]
        assert [p["probabilities"] for p in got] == [probabilities(r) for r in want]


@pytest.mark.parametrize("run", ["penguins", "mass"])
def test_table_rows_answer_what_predict_answers(server, runs, predicted, run):
    path = runs[1][run]
    want = predicted(run, path, "--top-k", 3)
    rows = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in pd.read_csv(path).to_dict("records")]  # the target column too: ignored, as predict ignores it
    got = ask(server, run, rows)
    if run == "mass":  # regression: the value predict writes, as a JSON number
        assert [p["prediction"] for p in got] == [float(r["prediction"]) for r in want]
        return
    assert [p["prediction"] for p in got] == [r["prediction"] for r in want]
    assert [p["probabilities"] for p in got] == [probabilities(r) for r in want]


def test_a_series_forecast_answers_what_predict_answers(server, runs, predicted, tmp_path):
    values = pd.read_csv(runs[1]["series"])["v"].tolist()
    shorter = tmp_path / "shorter.csv"
    shorter.write_text("v\n" + "".join(f"{v}\n" for v in values[:40]))
    want = [[float(r["prediction"]) for r in predicted("series", f, "--steps", 5)] for f in (runs[1]["series"], shorter)]
    assert len(want[0]) == 5
    got = ask(server, "series", [values, values[:40]], steps=5)  # two lengths in one request
    assert [p["prediction"] for p in got] == want


def test_a_text_continuation_answers_what_predict_answers(server, predicted):
    prompt = "the quick brown"
    want = predicted("text", prompt, "--steps", 30)
    assert [p["prediction"] for p in ask(server, "text", [prompt], steps=30)] == [r["prediction"] for r in want]


def test_200_requests_16_in_flight_all_answered(server, runs):
    files = sorted(runs[1]["digits"].iterdir())
    images = [{"image": base64.b64encode(f.read_bytes()).decode()} for f in files]
    row = pd.read_csv(runs[1]["penguins"]).drop(columns=["species"]).iloc[5].to_dict()
    jobs = [("digits", images[i % 10:i % 10 + 1 + i % 4]) if i % 3 else ("penguins", [row]) for i in range(200)]
    expected = {}
    for run, inputs in jobs[:6]:
        expected[json.dumps(inputs)] = ask(server, run, inputs)

    def one(job):
        run, inputs = job
        status, answer = post(server + "predict", json.dumps({"run": run, "inputs": inputs}).encode())
        return status, answer, json.dumps(inputs)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, jobs))
    assert [s for s, _, _ in results] == [200] * 200
    for _, answer, key in results:
        if key in expected:
            assert answer["predictions"] == expected[key]


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` 8-bit grey pixels, with almost no data behind it."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def image(fmt: str, size=(64, 64), cut: int = 0) -> str:
    """A noisy grey image as base64; ``cut``: without its last ``cut`` bytes."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, size, dtype=np.uint8)).save(buf, fmt)
    return base64.b64encode(buf.getvalue()[:len(buf.getvalue()) - cut]).decode()


def b64(blob: bytes) -> str:
    return base64.b64encode(blob).decode()


ROW = {"island": "Dream", "bill_length_mm": 40.0, "bill_depth_mm": 18.0, "flipper_length_mm": 190,
       "body_mass_g": 3800, "sex": "male", "year": 2008}
BAD = {  # name: (body, content type, status)
    "malformed JSON": (b'{"inputs": [', "application/json", 400),
    "NaN is not JSON": (b'{"run": "series", "inputs": [[NaN]]}', "application/json", 400),
    "nested too deeply": (b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "application/json", 400),
    "not an object": (b"[1, 2]", "application/json", 422),
    "inputs not a list": ({"run": "series", "inputs": "1 2 3"}, None, 422),
    "no inputs": ({"run": "series", "inputs": []}, None, 422),
    "too many inputs": ({"run": "text", "inputs": ["the quick brown fox"] * 257}, None, 413),
    "an unknown key": ({"run": "text", "inputs": ["the quick brown"], "top_k": 3}, None, 422),
    "steps beyond the limit": ({"run": "text", "inputs": ["the quick brown"], "steps": 10**6}, None, 422),
    "steps as text": ({"run": "text", "inputs": ["the quick brown"], "steps": "5"}, None, 422),
    "unknown run": ({"run": "nope", "inputs": [[1]]}, None, 404),
    "no run among several": ({"inputs": [[1]]}, None, 422),
    "an image as a number": ({"run": "digits", "inputs": [3]}, None, 422),
    "an image as a bare string": ({"run": "digits", "inputs": [image("PNG")]}, None, 422),
    "an image not base64": ({"run": "digits", "inputs": [{"image": "not base64!"}]}, None, 400),
    "an image that is not one": ({"run": "digits", "inputs": [{"image": b64(b"hello, world")}]}, None, 400),
    "a truncated PNG": ({"run": "digits", "inputs": [{"image": image("PNG", cut=2000)}]}, None, 400),
    "a truncated JPEG": ({"run": "digits", "inputs": [{"image": image("JPEG", cut=1000)}]}, None, 400),
    "a GIF": ({"run": "digits", "inputs": [{"image": image("GIF")}]}, None, 415),
    "a decompression bomb": ({"run": "digits", "inputs": [{"image": b64(png_header(60_000, 60_000))}]}, None, 413),
    "a pixel flood": ({"run": "digits", "inputs": [{"image": b64(png_header(5000, 5000))}]}, None, 413),
    "a row lacking a column": ({"run": "penguins", "inputs": [{k: v for k, v in ROW.items() if k != "sex"}]}, None, 422),
    "a row with an unknown column": ({"run": "penguins", "inputs": [{**ROW, "beak": 3}]}, None, 422),
    "a cell that is a list": ({"run": "penguins", "inputs": [{**ROW, "island": ["Dream"]}]}, None, 422),
    "text in a number column": ({"run": "penguins", "inputs": [{**ROW, "body_mass_g": "heavy"}]}, None, 422),
    "a row as a list": ({"run": "penguins", "inputs": [list(ROW.values())]}, None, 422),
    "a series of text": ({"run": "series", "inputs": [["1", "2"]]}, None, 422),
    "a series too short": ({"run": "series", "inputs": [[1, 2, 3]]}, None, 422),
    "a prompt as a number": ({"run": "text", "inputs": [42]}, None, 422),
    "a character never seen": ({"run": "text", "inputs": ["the quick brown €"]}, None, 422),
    "a tiny temperature": ({"run": "text", "inputs": ["the quick brown"], "temperature": 1e-9}, None, 422),
    "plain text": (b"1 2 3", "text/plain", 415),
    "an unknown form field": (b'--b\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--b--\r\n',
                              "multipart/form-data; boundary=b", 422),
    "a malformed form": (b"--b\r\nnothing here", "multipart/form-data; boundary=b", 400),
}


@pytest.mark.parametrize("name", list(BAD))
def test_a_bad_payload_is_a_4xx_with_one_line_of_json(server, name):
    body, content_type, status = BAD[name]
    if isinstance(body, dict):
        body, content_type = json.dumps(body).encode(), "application/json"
    got, answer = post(server + "predict", body, content_type)
    assert got == status, answer
    assert list(answer) == ["error"] and answer["error"] and "\n" not in answer["error"]
    assert "Traceback" not in answer["error"]


def raw_post(server: str, headers: str, chunks) -> tuple[int, dict]:
    """A POST over a plain socket: the head, then ``chunks`` until the server stops reading; its answer."""
    import socket
    from urllib.parse import urlsplit

    at = urlsplit(server)
    with socket.create_connection((at.hostname, at.port), timeout=60) as sock:
        sock.sendall(f"POST /predict HTTP/1.1\r\nHost: {at.netloc}\r\n{headers}\r\n".encode())
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):  # the server answered before the body ended
            pass
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < int(
                re.search(rb"content-length: (\d+)", answer.lower()).group(1)):
            more = sock.recv(65536)
            if not more:
                break
            answer += more
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_a_body_beyond_the_limit_is_a_413_before_it_is_read(server):
    from dlnotes.serve.limits import LIMITS

    status, answer = raw_post(server, f"Content-Type: application/json\r\nContent-Length: {LIMITS.body_bytes + 1}\r\n",
                              [])  # not one byte of the body sent
    assert status == 413 and list(answer) == ["error"] and "larger than" in answer["error"]
    chunk = b" " * 65536
    chunked = (f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for _ in range(LIMITS.body_bytes // len(chunk) + 2))
    status, answer = raw_post(server, "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n", chunked)
    assert status == 413 and "larger than" in answer["error"]


@pytest.mark.parametrize("path, method, status", [("nope", "GET", 404), ("predict", "GET", 405)])
def test_unknown_paths_and_methods_are_json_too(server, path, method, status):
    got, body = get(server + path)
    assert got == status and list(json.loads(body)) == ["error"]


def test_the_server_binds_this_machine_only_by_default(server):
    assert server.startswith("http://127.0.0.1:")


def test_random_payloads_never_fail_the_server(server):
    """Arbitrary JSON in every place of a request: always an answer, never a 5xx."""
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import strategies as st

    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
    values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8),
                                                                                                 inner, max_size=4),
                          max_leaves=12)
    runs = st.sampled_from(["digits", "penguins", "mass", "series", "text"])
    body = st.fixed_dictionaries({"run": runs, "inputs": st.lists(values, min_size=1, max_size=3)},
                                 optional={"steps": values, "temperature": values, "seed": values})

    @hypothesis.settings(max_examples=100, deadline=None, database=None, derandomize=True)
    @hypothesis.given(body)
    def check(payload):
        status, answer = post(server + "predict", json.dumps(payload).encode())
        assert status < 500, (payload, answer)
        assert status == 200 or list(answer) == ["error"]

    check()


def test_a_bad_run_is_exit_2_at_start(runs, tmp_path):
    from typer.testing import CliRunner

    from dlnotes.cli import app

    import shutil

    (tmp_path / "digits").mkdir()  # a folder, not a run
    twin = shutil.copytree(runs[0]["text"], tmp_path / "copy" / "text")
    for args, said in [(["--run", tmp_path / "missing"], "missing"), (["--run", tmp_path / "digits"], "digits"),
                       (["--run", runs[0]["text"], "--run", twin], "two runs are named 'text'")]:
        r = CliRunner().invoke(app, ["serve", *map(str, args), "--port", "0"])
        assert r.exit_code == 2 and said in r.output, r.output
        assert len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output


def test_a_port_in_use_is_exit_2_at_start(runs):
    import socket

    from typer.testing import CliRunner

    from dlnotes.cli import app

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        r = CliRunner().invoke(app, ["serve", "--run", str(runs[0]["text"]), "--port", str(port)])
    assert r.exit_code == 2 and "in use" in r.output, r.output
