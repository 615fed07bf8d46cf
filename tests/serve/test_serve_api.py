"""``dlnotes serve`` (issue 27): the real server, started by its command on a free port, answers what
``dlnotes predict`` answers for the same inputs, and takes 200 requests 16 at a time.

Reference: ``dlnotes predict`` itself (the CLI, in this process) on the same files; ``--top-k`` with every
class gives each class's probability, which the server answers as ``probabilities``.
"""

import base64
import json
import math
import shutil
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from dlnotes.cli import app


def multipart(files: list[Path], run: str) -> tuple[bytes, str]:
    boundary = "dlnotes-test-boundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="run"\r\n\r\n{run}\r\n'.encode()]
    for f in files:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{f.name}"\r\n'
                     f'Content-Type: application/octet-stream\r\n\r\n'.encode() + f.read_bytes() + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_health_lists_the_runs_and_info_describes_each(serve_client, serve_runs):
    paths = serve_runs.paths
    assert json.loads(serve_client.get("health")[1]) == {"status": "ok", "runs": list(paths)}
    info = {r["name"]: r for r in json.loads(serve_client.get("info")[1])["runs"]}
    for name, path in paths.items():
        meta = json.loads((path / "meta.json").read_text())
        metrics = json.loads((path / "metrics.json").read_text())
        metrics.pop("confusion_matrix", None)
        assert (info[name]["model"], info[name]["task"]) == (meta["model"]["name"], meta["dataset"]["task"])
        assert info[name]["classes"] == meta["dataset"]["classes"] and info[name]["metrics"] == metrics
    assert info["digits"]["input"] == {"kind": "image", "image_size": 16, "channels": 1, "style": "digits"}
    assert info["rows"]["input"] == {"kind": "sequence", "steps": 8, "features": 8}
    types = json.loads((paths["penguins"] / "meta.json").read_text())["preprocess"]["tabular"]["types"]
    assert {c["name"]: c["type"] for c in info["penguins"]["input"]["columns"]} == types
    island = next(c for c in info["penguins"]["input"]["columns"] if c["name"] == "island")
    assert island["levels"] == ["Biscoe", "Dream", "Torgersen"]
    assert info["series"]["input"] == {"kind": "series", "length": 13, "horizon": 2}  # 12, and one more for diff
    vocab = sorted(set("the quick brown fox jumps over the lazy dog. "))
    assert info["text"]["input"] == {"kind": "text", "window": 8, "vocabulary_size": len(vocab),
                                     "vocabulary": "".join(vocab)}


def test_images_as_json_and_as_an_upload_answer_what_predict_answers(serve_client, serve_runs, predicted):
    folder = serve_runs.files["digits"]
    want = predicted("digits", folder, "--top-k", 10)
    files = sorted(folder.iterdir())
    assert [Path(r["input"]).name for r in want] == [f.name for f in files]
    as_json = serve_client.ask("digits", [{"image": base64.b64encode(f.read_bytes()).decode()} for f in files])
    status, upload = serve_client.post(*multipart(files, "digits"))
    assert status == 200
    for got in (as_json, upload["predictions"]):
        assert [p["prediction"] for p in got] == [r["prediction"] for r in want]
        assert [p["probabilities"] for p in got] == [r["probabilities"] for r in want]
        assert [p["probability"] for p in got] == [float(r["probability"]) for r in want]


@pytest.mark.parametrize("run", ["penguins", "mass"])
def test_table_rows_answer_what_predict_answers(serve_client, serve_runs, predicted, run):
    path = serve_runs.files[run]
    want = predicted(run, path, "--top-k", 3)
    rows = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in pd.read_csv(path).to_dict("records")]  # the target column too: ignored, as predict does
    got = serve_client.ask(run, rows)
    if run == "mass":  # regression: the value predict writes, as a JSON number
        assert [p["prediction"] for p in got] == [float(r["prediction"]) for r in want]
        return
    assert [p["prediction"] for p in got] == [r["prediction"] for r in want]
    assert [p["probabilities"] for p in got] == [r["probabilities"] for r in want]


def test_a_series_forecast_answers_what_predict_answers(serve_client, serve_runs, predicted, tmp_path):
    values = pd.read_csv(serve_runs.files["series"])["v"].tolist()
    shorter = tmp_path / "shorter.csv"
    shorter.write_text("v\n" + "".join(f"{v}\n" for v in values[:40]))
    want = [[float(r["prediction"]) for r in predicted("series", f, "--steps", 5)]
            for f in (serve_runs.files["series"], shorter)]
    assert len(want[0]) == 5
    got = serve_client.ask("series", [values, values[:40]], steps=5)  # two lengths in one request
    assert [p["prediction"] for p in got] == want


def test_a_text_continuation_answers_what_predict_answers(serve_client, predicted):
    prompt = "the quick brown"
    want = predicted("text", prompt, "--steps", 30)
    assert [p["prediction"] for p in serve_client.ask("text", [prompt], steps=30)] == [r["prediction"] for r in want]


def test_sequences_answer_what_predict_answers(serve_client, serve_runs, predicted):
    import numpy as np

    path = serve_runs.files["rows"]
    want = predicted("rows", path, "--top-k", 10)
    got = serve_client.ask("rows", np.load(path).tolist())
    assert [p["prediction"] for p in got] == [r["prediction"] for r in want]
    assert [p["probabilities"] for p in got] == [r["probabilities"] for r in want]


def test_200_requests_16_in_flight_all_answered(serve_client, serve_runs):
    files = sorted(serve_runs.files["digits"].iterdir())
    images = [{"image": base64.b64encode(f.read_bytes()).decode()} for f in files]
    row = pd.read_csv(serve_runs.files["penguins"]).drop(columns=["species"]).iloc[5].to_dict()
    jobs = [("digits", images[i % 10:i % 10 + 1 + i % 4]) if i % 3 else ("penguins", [row]) for i in range(200)]
    expected = {json.dumps(inputs): serve_client.ask(run, inputs) for run, inputs in jobs[:6]}

    def one(job):
        run, inputs = job
        status, answer = serve_client.post(json.dumps({"run": run, "inputs": inputs}).encode())
        return status, answer, json.dumps(inputs)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, jobs))
    assert [s for s, _, _ in results] == [200] * 200
    checked = [answer["predictions"] == expected[key] for _, answer, key in results if key in expected]
    assert len(checked) >= 20 and all(checked)


@pytest.mark.parametrize("path, status", [("nope", 404), ("predict", 405)])
def test_unknown_paths_and_methods_are_json_too(serve_client, path, status):
    got, body = serve_client.get(path)
    assert got == status and list(json.loads(body)) == ["error"]


def test_the_server_binds_this_machine_only_by_default(serve_client):
    assert serve_client.url.startswith("http://127.0.0.1:")


def test_a_bad_run_is_exit_2_at_start(serve_runs, tmp_path):
    (tmp_path / "digits").mkdir()  # a folder, not a run
    twin = shutil.copytree(serve_runs.paths["text"], tmp_path / "copy" / "text")
    for args, said in [(["--run", tmp_path / "missing"], "missing"), (["--run", tmp_path / "digits"], "digits"),
                       (["--run", serve_runs.paths["text"], "--run", twin], "two runs are named 'text'")]:
        r = CliRunner().invoke(app, ["serve", *map(str, args), "--port", "0"])
        assert r.exit_code == 2 and said in r.output, r.output
        assert len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output


def test_a_port_in_use_is_exit_2_at_start(serve_runs):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        r = CliRunner().invoke(app, ["serve", "--run", str(serve_runs.paths["text"]), "--port",
                                     str(taken.getsockname()[1])])
    assert r.exit_code == 2 and "in use" in r.output, r.output
