"""End to end, as a user runs it: train -> eval -> predict through the real CLI process."""

import csv
import io
import json

import numpy as np
import pytest
from PIL import Image



@pytest.fixture(scope="module")
def lenet_run(tmp_path_factory, cli):
    run_cli = cli
    out = tmp_path_factory.mktemp("runs") / "lenet"
    r = run_cli("train", "--config", "configs/lenet_digits.yaml", "--out", out, "--quiet", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    return out


def test_lenet_digits_trains_to_98_percent_and_eval_reproduces(lenet_run, in_process):
    metrics = json.loads((lenet_run / "metrics.json").read_text())
    assert metrics["accuracy"] >= 0.98
    for name in ("config.yaml", "model.safetensors", "meta.json", "history.csv", "checkpoint/state.pt"):
        assert (lenet_run / name).is_file(), name
    r = in_process("eval", "--run", lenet_run, "--json")
    assert r.returncode == 0, r.stderr
    again = json.loads(r.stdout)
    assert again["accuracy"] == metrics["accuracy"]
    assert again["confusion_matrix"] == metrics["confusion_matrix"]
    rows = list(csv.DictReader(io.StringIO((lenet_run / "history.csv").read_text())))
    assert len(rows) == 20 and {"epoch", "train_loss", "val_loss", "val_accuracy", "lr", "seconds"} <= set(rows[0])


def test_predict_on_digit_pngs(lenet_run, cli, in_process, tmp_path):
    """40 held-out digits written as 28x28 PNGs (white digit on black), as a user would hand them over."""
    from dlnotes.config import validate
    from dlnotes.collect import load_data

    raw = load_data(validate({"seed": 0, "data": {"name": "digits", "image_size": 28, "standardize": False},
                            "model": {"name": "lenet"}}))
    folder = tmp_path / "pngs"
    folder.mkdir()
    truth = {}
    for i in range(40):
        img = (raw.test.x[i, 0].numpy() * 255).round().astype(np.uint8)
        # a colour PNG for some, to exercise the conversion to the model's gray input
        pil = Image.fromarray(img).convert("RGB") if i % 2 else Image.fromarray(img)
        pil.save(folder / f"d{i:02d}.png")
        truth[str(folder / f"d{i:02d}.png")] = str(int(raw.test.y[i]))
    r = cli("predict", "--run", lenet_run, "--input", folder)  # a process of its own, as a user runs it
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert list(rows[0]) == ["input", "prediction", "probability"] and len(rows) == 40
    right = sum(row["prediction"] == truth[row["input"]] for row in rows)
    assert right >= 36
    assert all(0 < float(row["probability"]) <= 1 for row in rows)
    # one file, a larger size, top-k columns
    big = tmp_path / "big.jpg"
    Image.open(folder / "d00.png").resize((100, 100)).save(big)
    r = in_process("predict", "--run", lenet_run, "--input", big, "--top-k", "3")
    header = r.stdout.splitlines()[0].split(",")
    assert header == ["input", "prediction", "probability", "top2", "top2_probability", "top3", "top3_probability"]


def test_same_seed_same_weights_and_different_seed_differs(tmp_path, write_config, tiny_lenet):
    TINY_LENET = tiny_lenet
    from dlnotes.run import train

    from dlnotes.config import validate

    a = train(validate(TINY_LENET), out=tmp_path / "a")
    b = train(validate(TINY_LENET), out=tmp_path / "b")
    train(validate({**TINY_LENET, "seed": 1}), out=tmp_path / "c")
    assert (tmp_path / "a/model.safetensors").read_bytes() == (tmp_path / "b/model.safetensors").read_bytes()
    assert a.metrics["accuracy"] == b.metrics["accuracy"]
    assert (tmp_path / "a/model.safetensors").read_bytes() != (tmp_path / "c/model.safetensors").read_bytes()


def test_bad_config_exits_2_with_suggestion(in_process, write_config, tmp_path):
    path = write_config({"data": {"name": "digits"}, "model": {"name": "lenet"}, "train": {"epocs": 3}})
    r = in_process("train", "--config", path, "--out", tmp_path / "x")
    assert r.returncode == 2
    assert "did you mean 'epochs'" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()
