"""dlnotes export: ONNX (run by onnxruntime) and TorchScript give PyTorch's outputs on any batch size."""

import json

import numpy as np
import pytest
import torch

from dlnotes.run import Run

SINE = {"name": "sine", "data": {"name": "sine", "n_samples": 200, "seq_len": 12, "batch_size": 50},
        "model": {"name": "lstm", "hidden_size": 8}, "train": {"epochs": 1}}


@pytest.fixture(scope="module", params=["lenet", "lstm"])
def trained(request, tmp_path_factory, tiny_lenet):
    from dlnotes.config import validate
    from dlnotes.run import train

    cfg = tiny_lenet if request.param == "lenet" else SINE
    out = tmp_path_factory.mktemp(request.param) / "run"
    train(validate(cfg), out=out)
    return out


def _inputs(run, batch):
    shape = run.meta["dataset"]["input_shape"]
    return torch.randn(batch, *shape, generator=torch.Generator().manual_seed(batch))


def test_onnx_export_runs_in_onnxruntime_with_any_batch(trained, cli, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    path = tmp_path / "model.onnx"
    r = cli("export", "--run", trained, "--format", "onnx", "--output", path)
    assert r.returncode == 0, r.stderr[-2000:]
    run = Run.load(trained)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 7, 33):
        x = _inputs(run, batch)
        with torch.inference_mode():
            ref = run.model(x).numpy()
        (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
        assert got.shape == ref.shape and np.abs(got - ref).max() < 1e-4
    meta = session.get_modelmeta().custom_metadata_map
    info = json.loads(meta["dlnotes"])
    assert info["input_shape"] == run.meta["dataset"]["input_shape"] and "preprocess" in info


def test_torchscript_export_matches_pytorch(trained, cli, tmp_path):
    path = tmp_path / "model.pt"
    r = cli("export", "--run", trained, "--format", "torchscript", "--output", path)
    assert r.returncode == 0, r.stderr[-2000:]
    run = Run.load(trained)
    files = {"dlnotes.json": ""}
    scripted = torch.jit.load(str(path), _extra_files=files)
    assert json.loads(files["dlnotes.json"])["model"] == run.meta["model"]["name"]
    for batch in (1, 9):
        x = _inputs(run, batch)
        with torch.inference_mode():
            assert torch.allclose(scripted(x), run.model(x), atol=1e-4)


def test_torch_export_program_matches_pytorch_on_any_batch(trained, cli, tmp_path):
    import warnings

    path = tmp_path / "model.pt2"
    r = cli("export", "--run", trained, "--format", "torch_export", "--output", path)
    assert r.returncode == 0, r.stderr[-2000:]
    run = Run.load(trained)
    files = {"dlnotes.json": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # unlike torch.jit.load, nothing deprecated here
        program = torch.export.load(str(path), extra_files=files)
    assert json.loads(files["dlnotes.json"])["input_shape"] == run.meta["dataset"]["input_shape"]
    module = program.module()
    for batch in (1, 5, 33):
        x = _inputs(run, batch)
        with torch.inference_mode():
            ref = run.model(x)
        got = module(x)
        assert got.shape == ref.shape and torch.allclose(got, ref, atol=1e-5)


@pytest.mark.parametrize("args, message", [
    (["--format", "tflite", "--output", "m.tflite"], "allowed: onnx, torch_export, torchscript"),
    (["--format", "onnx", "--output", "."], "is a directory"),
])
def test_export_refuses_bad_arguments(trained, cli, args, message):
    r = cli("export", "--run", trained, *args)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
