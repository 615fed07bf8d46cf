"""The recurrent chapter: our cells against torch's fused modules, sequence data, forecasting and text."""

import json
import random

import numpy as np
import pytest
import torch
import yaml

from dlnotes.models.recurrent import gru, lstm, rnn
from dlnotes.nn.cells import GRUCell, LSTMCell, Recurrent, RNNCell
from dlnotes.run import Run, train

FUSED = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
CELLS = {"rnn": (RNNCell, torch.nn.RNNCell), "lstm": (LSTMCell, torch.nn.LSTMCell), "gru": (GRUCell, torch.nn.GRUCell)}


def _h(state):
    return state[0] if isinstance(state, tuple) else state


@pytest.mark.parametrize("mode", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_scratch_stack_equals_fused_module(mode, layers, bidirectional):
    torch.manual_seed(0)
    ref = FUSED[mode](3, 5, num_layers=layers, batch_first=True, bidirectional=bidirectional)
    ours = Recurrent(mode, 3, 5, num_layers=layers, bidirectional=bidirectional)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    ours.load_state_dict(ref.state_dict())  # same names and shapes: weights move both ways
    x = torch.randn(4, 7, 3, requires_grad=True)
    (a, sa), (b, sb) = ref(x), ours(x)
    assert torch.allclose(a, b, atol=1e-5) and torch.allclose(_h(sa), _h(sb), atol=1e-5)
    if mode == "lstm":
        assert torch.allclose(sa[1], sb[1], atol=1e-5)  # the cell state too
    weights = torch.randn_like(a)
    ga = torch.autograd.grad((a * weights).sum() + _h(sa).sum(), [x, *ref.parameters()])
    gb = torch.autograd.grad((b * weights).sum() + _h(sb).sum(), [x, *ours.parameters()])
    for p, q in zip(ga, gb):
        assert torch.allclose(p, q, atol=1e-5)


@pytest.mark.parametrize("mode", ["rnn", "lstm", "gru"])
def test_cells_equal_torch_cells_step_by_step(mode):
    torch.manual_seed(1)
    ours_cls, ref_cls = CELLS[mode]
    ref, ours = ref_cls(4, 6), ours_cls(4, 6)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(3, 4)
    state = (torch.randn(3, 6), torch.randn(3, 6)) if mode == "lstm" else torch.randn(3, 6)
    a, b = ref(x, state), ours(x, state)
    for p, q in zip(a if mode == "lstm" else [a], b if mode == "lstm" else [b]):
        assert torch.allclose(p, q, atol=1e-6)


def test_cell_docstrings_state_the_gates():
    assert "f = sigma" in LSTMCell.__doc__ and "c' = f * c + i * g" in LSTMCell.__doc__
    assert "z = sigma" in GRUCell.__doc__ and "(1 - z) * n + z * h" in GRUCell.__doc__
    assert "tanh(W_ih x" in RNNCell.__doc__


@pytest.mark.parametrize("ctor", [rnn, lstm, gru])
@pytest.mark.parametrize("head", ["last", "mean", "max", "flatten"])
def test_a_trained_model_moves_between_fused_and_scratch(ctor, head):
    torch.manual_seed(2)
    args = dict(input_size=2, num_classes=4, seq_len=9, hidden_size=8, num_layers=2, bidirectional=True, head=head)
    fused, scratch = ctor(impl="fused", **args), ctor(impl="scratch", **args)
    scratch.load_state_dict(fused.state_dict())
    x = torch.randn(5, 9, 2)
    fused.eval(), scratch.eval()
    assert torch.allclose(fused(x), scratch(x), atol=1e-5)


def test_language_model_shapes_and_refuses_bidirectional():
    model = gru(vocab_size=11, hidden_size=8)
    assert model(torch.randint(0, 11, (3, 7))).shape == (3, 7, 11)
    with pytest.raises(ValueError, match="bidirectional"):
        lstm(vocab_size=11, bidirectional=True)


# --- data --------------------------------------------------------------------------------------------

def test_mnist1d_is_generated_offline_with_the_paper_sizes(monkeypatch):
    import requests

    def no_network(*a, **k):
        raise AssertionError("mnist1d must be generated, never downloaded")

    monkeypatch.setattr(requests, "get", no_network)
    from dlnotes.data.synthetic import _mnist1d_arrays, mnist1d

    _mnist1d_arrays.cache_clear()  # generated here, not taken from an earlier test's run
    np.random.seed(123)
    random.seed(123)
    before = np.random.random(), random.random()
    np.random.seed(123)
    random.seed(123)
    ds = mnist1d()
    assert (np.random.random(), random.random()) == before  # the global generators are left alone
    assert ds.x.shape == (4000, 40, 1) and ds.x_test.shape == (1000, 40, 1)
    assert ds.kind == "sequence" and sorted(ds.y.unique().tolist()) == list(range(10))
    from dlnotes.data.kinds import input_kind

    assert input_kind(ds.kind).model_inputs(ds)["in_features"] == 40
    assert input_kind(ds.kind).model_inputs(ds)["input_size"] == 1
    again = mnist1d()  # the process's copy of the arrays: the same data in tensors of its own
    assert torch.equal(again.x, ds.x) and _mnist1d_arrays.cache_info().hits == 1
    again.x.mul_(0)
    assert torch.equal(mnist1d().x, ds.x) and ds.x.abs().sum() > 0  # changing one copy changes no other
    assert not torch.equal(mnist1d(num_samples=50, seed=7).x, mnist1d(num_samples=50).x)  # the seed is a key


def test_sine_windows_continue_their_wave():
    from dlnotes.data.synthetic import sine

    ds = sine(n_samples=50, seq_len=20, horizon=3, noise=0.0)
    assert ds.x.shape == (50, 20, 1) and ds.y.shape == (50, 3) and ds.task == "forecasting"
    from dlnotes.tasks import get_task

    assert get_task(ds.task).model_outputs(ds)["horizon"] == 3
    assert ds.x.abs().max() <= 1.5 + 1e-6


def test_timeseries_csv_windows_and_time_ordered_split(tmp_path):
    from dlnotes.config import validate
    from dlnotes.collect import load_data

    path = tmp_path / "series.csv"
    path.write_text("day,sales\n" + "".join(f"{i},{100 + i}\n" for i in range(60)))
    cfg = validate({"name": "ts", "data": {"name": "timeseries_csv", "path": str(path), "column": "sales",
                                           "seq_len": 5, "horizon": 2, "test_fraction": 0.2, "val_fraction": 0.0},
                    "model": {"name": "lstm"}})
    data = load_data(cfg)
    ds = data.dataset
    assert len(ds.x) == 60 - 7 + 1 and ds.input_shape == (5, 1)
    assert torch.equal(ds.y[0], torch.tensor([105.0, 106.0]))  # the two values after the first window
    pre = data.preprocess
    raw_train = data.train.x * pre["x_std"] + pre["x_mean"]
    raw_test = data.test.x * pre["x_std"] + pre["x_mean"]
    last_train_target = raw_train[-1, -1, 0] + 2  # the last value a training window (with target) touches
    assert raw_test.min() > last_train_target  # the test part is the end of the series, after a gap
    assert abs(pre["x_mean"] - float(raw_train.mean())) < 1e-3  # statistics of the training part only


def test_text_dataset_vocab_and_shifted_targets(tmp_path):
    from dlnotes.data.sequences import text

    path = tmp_path / "t.txt"
    path.write_text("abcabcabd" * 20)
    ds = text(path=str(path), seq_len=6)
    assert ds.info["vocab"] == ["a", "b", "c", "d"] and ds.x.shape[1] == 6
    assert torch.equal(ds.x[0, 1:], ds.y[0, :-1])


@pytest.mark.parametrize("setup, message", [
    ({"data.path": "missing.txt"}, "not found"),
    ({"data.seq_len": 500}, "windows"),
])
def test_text_dataset_errors(write_config, tmp_path, setup, message, in_process):
    path = tmp_path / "t.txt"
    path.write_text("hello world " * 20)
    cfg = {"name": "t", "data": {"name": "text", "path": str(path)}, "model": {"name": "gru"}}
    for key, value in setup.items():
        cfg["data"][key.split(".")[1]] = str(tmp_path / value) if key == "data.path" else value
    r = in_process("train", "--config", write_config(cfg), "--out", tmp_path / "run")
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "run").exists()


def test_text_dataset_refuses_binary_file(write_config, tmp_path, in_process):
    path = tmp_path / "t.bin"
    path.write_bytes(bytes(range(256)) * 4)
    cfg = {"name": "t", "data": {"name": "text", "path": str(path)}, "model": {"name": "gru"}}
    r = in_process("train", "--config", write_config(cfg), "--out", tmp_path / "run")
    assert r.returncode == 2 and "UTF-8" in r.stderr


# --- training and predict --------------------------------------------------------------------------

SINE = {"name": "sine", "seed": 0, "data": {"name": "sine", "n_samples": 400, "seq_len": 20, "batch_size": 32},
        "model": {"name": "lstm", "hidden_size": 16},
        "train": {"epochs": 3, "optimizer": {"name": "adam", "lr": 0.01}, "grad_clip": 1.0}}


@pytest.fixture(scope="module")
def sine_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sine") / "run"
    return train(_cfg(SINE), out=out)


def _cfg(d):
    from dlnotes.config import validate

    return validate(d)


def test_forecasting_run_writes_mse_and_eval_reproduces_it(sine_run, in_process):
    metrics = json.loads((sine_run.path / "metrics.json").read_text())
    assert {"mse", "mae", "loss"} <= set(metrics) and metrics["mse"] < 0.3
    r = in_process("eval", "--run", sine_run.path, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["mse"] == pytest.approx(metrics["mse"], rel=1e-5)
    assert (sine_run.path / "plots").is_dir()


def test_predict_forecast_from_csv_and_npy_with_rollout(sine_run, tmp_path, in_process):
    t = np.arange(30, dtype=np.float32)
    wave = np.sin(2 * np.pi * t / 20)
    np.save(tmp_path / "wave.npy", wave)
    (tmp_path / "wave.csv").write_text("value\n" + "".join(f"{v}\n" for v in wave))
    outs = []
    for name in ("wave.npy", "wave.csv"):
        r = in_process("predict", "--run", sine_run.path, "--input", tmp_path / name, "--steps", 4)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.strip().splitlines()
        assert lines[0] == "input,step,prediction" and len(lines) == 5
        outs.append([float(line.split(",")[-1]) for line in lines[1:]])
    assert np.allclose(outs[0], outs[1], atol=1e-5)
    # the roll-out feeds each forecast back: step 2 is the model applied to the window shifted by one
    run = Run.load(sine_run.path)
    from dlnotes.engine.forecast import forecast

    x = torch.from_numpy(wave[-20:]).view(1, 20, 1)
    first = forecast(run.model, x, x[:, -1, 0], 1, run.meta["preprocess"], run.device)
    shifted = torch.cat([x[:, 1:], first.view(1, 1, 1)], dim=1)
    second = forecast(run.model, shifted, shifted[:, -1, 0], 1, run.meta["preprocess"], run.device)
    assert outs[0][0] == pytest.approx(float(first), abs=1e-4)
    assert outs[0][1] == pytest.approx(float(second), abs=1e-4)


@pytest.mark.parametrize("content, message", [
    ("value\n1\n2\n3\n", "too short"),
    ("value\n1\nx\n" + "1\n" * 30, "not a number"),
])
def test_predict_refuses_bad_sequences(sine_run, tmp_path, content, message, in_process):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    r = in_process("predict", "--run", sine_run.path, "--input", path)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_predict_refuses_pickled_npy(sine_run, tmp_path, in_process):
    path = tmp_path / "evil.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    r = in_process("predict", "--run", sine_run.path, "--input", path)
    assert r.returncode == 2 and "object" in r.stderr


def test_sequence_classifier_trains_and_predicts_rows(tmp_path, write_config, in_process):
    cfg = {"name": "rows", "seed": 0, "data": {"name": "digits_rows", "batch_size": 64},
           "model": {"name": "gru", "hidden_size": 32, "impl": "scratch"},
           "train": {"epochs": 3, "optimizer": {"name": "adam", "lr": 0.01}}}
    out = tmp_path / "run"
    r = in_process("train", "--config", write_config(cfg), "--out", out, "--quiet")
    assert r.returncode == 0, r.stderr
    assert json.loads((out / "metrics.json").read_text())["accuracy"] > 0.6
    from sklearn.datasets import load_digits

    d = load_digits()
    np.save(tmp_path / "digits.npy", (d.images[:20] / 16.0).astype(np.float32))  # (20, 8, 8) raw rows
    r = in_process("predict", "--run", out, "--input", tmp_path / "digits.npy")
    assert r.returncode == 0, r.stderr
    preds = [line.split(",")[1] for line in r.stdout.strip().splitlines()[1:]]
    assert len(preds) == 20 and sum(p == str(t) for p, t in zip(preds, d.target[:20])) >= 12
    np.save(tmp_path / "short.npy", np.zeros((2, 7, 8), dtype=np.float32))
    r = in_process("predict", "--run", out, "--input", tmp_path / "short.npy")
    assert r.returncode == 2 and "(8, 8)" in r.stderr


def test_flat_models_read_mnist1d(tmp_path):
    for name in ("logistic_regression", "mlp"):
        run = train(_cfg({"name": name, "data": {"name": "mnist1d", "num_samples": 500, "batch_size": 100},
                          "model": {"name": name}, "train": {"epochs": 2}}), out=tmp_path / name)
        assert run.meta["model"]["args"]["in_features"] == 40 and 0 <= run.metrics["accuracy"] <= 1


def test_text_model_trains_and_continues_a_prompt(in_process, tmp_path, write_config):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat. " * 60)
    cfg = {"name": "txt", "seed": 0, "data": {"name": "text", "path": str(corpus), "seq_len": 24, "stride": 4,
                                              "batch_size": 32},
           "model": {"name": "gru", "hidden_size": 48},
           "train": {"epochs": 6, "optimizer": {"name": "adam", "lr": 0.01}}}
    import dlnotes

    out = tmp_path / "run"
    run = dlnotes.train(write_config(cfg), out=out, quiet=True)  # in process: one interpreter start fewer
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["perplexity"] < 3 and metrics["accuracy"] > 0.6  # a repetitive text is easy to predict
    r = in_process("predict", "--run", out, "--input", "the cat ", "--steps", 16, "--temperature", 0)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout) == 17 and r.stdout.endswith("\n") and "on the" in r.stdout  # plain text, 16 characters
    sampled = [run.predict("the ", steps=40, temperature=3, **seed)[0]["prediction"]
               for seed in ({}, {"seed": 0}, {"seed": 1})]
    assert sampled[0] == sampled[1] != sampled[2]  # the run's seed (0) by default; another seed, another sample
    assert r.stdout[:-1] == run.predict("the cat ", steps=16, temperature=0)[0]["prediction"]
    r = in_process("predict", "--run", out, "--input", "the dog")
    assert r.returncode == 2 and "'d'" in r.stderr and "never occur" in r.stderr


def test_configs_of_the_chapter_load(in_process, root):
    for name in ("rnn_sine", "lstm_sine", "gru_mnist1d", "lstm_mnist1d", "logreg_mnist1d", "mlp_mnist1d",
                 "lstm_digits_rows", "gru_text"):
        r = in_process("config", "--config", f"{root}/configs/{name}.yaml")
        assert r.returncode == 0, (name, r.stderr)
        assert yaml.safe_load(r.stdout)["name"] == name


# --- the accuracy targets (python -m pytest -m slow) -------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("config, metric, low, high", [
    ("gru_mnist1d", "accuracy", 0.91, 1.0),
    ("mlp_mnist1d", "accuracy", 0.68, 1.0),
    ("logreg_mnist1d", "accuracy", 0.28, 0.36),
    ("lstm_sine", "mse", 0.0, 0.01),
])
def test_chapter_targets(config, metric, low, high, tmp_path):
    # no time limit here: timings depend on the machine's other load (with two xdist workers on two cores,
    # gru_mnist1d ran past the 180 s this test used to assert); docs/benchmarks.md has them
    run = train(f"configs/{config}.yaml", out=tmp_path / "run")
    assert low <= run.metrics[metric] <= high


@pytest.mark.slow
def test_gru_mnist1d_scratch_trains(tmp_path):
    run = train("configs/gru_mnist1d.yaml", out=tmp_path / "run", overrides=["model.impl=scratch", "train.epochs=40"])
    assert run.metrics["accuracy"] > 0.8
