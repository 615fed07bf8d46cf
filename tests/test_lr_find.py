"""lr-find: the range test leaves nothing behind (weights, optimizer, data order, RNGs), its smoothing and
suggestions against hand-made references, the CLI's outputs, and (slow) the suggestion trains LeNet well."""

import json
import math
import random

import numpy as np
import pytest
import torch


def _trainer(cfg_dict):
    from dlnotes.collect import load_data
    from dlnotes.config import validate
    from dlnotes.engine.trainer import Trainer
    from dlnotes.models import build_model, model_args

    cfg = validate(cfg_dict)
    torch.manual_seed(cfg.seed)
    data = load_data(cfg)
    model = build_model(cfg.model.name, model_args(cfg.model.name, cfg.extras("model"), data.model_inputs()))
    return Trainer(cfg, model, data, torch.device("cpu"), quiet=True)


def _bytes(model):
    return {k: v.detach().numpy().tobytes() for k, v in model.state_dict().items()}


def test_the_range_test_puts_everything_back(tiny_lenet):
    from dlnotes.tune.lr_find import range_test

    cfg = {**tiny_lenet, "data": {**tiny_lenet["data"], "augment": True}, "train": {**tiny_lenet["train"], "epochs": 1}}
    trainer = _trainer(cfg)
    before = _bytes(trainer.model)
    rngs = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate(),
            trainer.generator.get_state(), trainer.augment_generator.get_state())
    finding = range_test(trainer, steps=30)  # more batches than the 18 of one epoch
    assert len(finding.lrs) >= 20 and finding.lrs[0] == pytest.approx(1e-7)
    assert _bytes(trainer.model) == before  # byte for byte
    assert torch.equal(torch.get_rng_state(), rngs[0]) and np.array_equal(np.random.get_state()[1], rngs[1])
    assert random.getstate() == rngs[2]
    assert torch.equal(trainer.generator.get_state(), rngs[3]) and torch.equal(trainer.augment_generator.get_state(), rngs[4])
    assert trainer.optimizer.state_dict()["state"] == {}  # no Adam moments left behind
    # the strongest check: training after the range test gives the bytes of a training without it
    after = trainer.fit()
    fresh = _trainer(cfg)
    fresh.fit()
    assert _bytes(trainer.model) == _bytes(fresh.model) and after[0]["train_loss"] == fresh.history[0]["train_loss"]


def test_smoothing_is_the_bias_corrected_exponential_average_forwards_then_backwards():
    import pandas as pd

    from dlnotes.tune.lr_find import beta_for, lr_schedule, smooth, zero_phase

    losses = list(np.random.default_rng(0).uniform(1, 3, 50))
    assert beta_for(100) == pytest.approx(0.7)
    forwards = pd.Series(losses).ewm(alpha=0.3, adjust=True).mean()  # pandas' adjusted ewm is the debiased one
    assert smooth(losses, 0.7) == pytest.approx(list(forwards), rel=1e-12)
    backwards = pd.Series(list(forwards)[::-1]).ewm(alpha=0.3, adjust=True).mean()
    assert zero_phase(losses, 0.7) == pytest.approx(list(backwards)[::-1], rel=1e-12)
    step = [2.0] * 30 + [1.0] * 30  # a drop at index 30: the zero-phase curve is halfway there, not later
    z = zero_phase(step, 0.7)
    assert z[29] > 1.5 > z[30]
    lrs = lr_schedule(1e-7, 10, 100)
    assert lrs[0] == pytest.approx(1e-7) and lrs[-1] == pytest.approx(10)
    assert np.allclose(np.diff(np.log(lrs)), math.log(1e8) / 99)  # exponential: equal steps in log lr


def test_suggestions_on_a_curve_worked_out_by_hand():
    from dlnotes.tune.lr_find import suggest

    lrs = [10.0 ** (-6 + i * 0.1) for i in range(61)]  # 1e-6 .. 1
    x = np.log10(lrs)
    # a loss falling fastest at log10 lr = -3 (tanh's steepest point), lowest at -2, then blowing up
    curve = [2 - math.tanh(2 * (v + 3)) + (10 * (v + 2) ** 2 if v > -2 else 0) for v in x]
    steepest, min_div10 = suggest(lrs, curve, diverged=False)
    assert steepest == pytest.approx(1e-3)
    lowest = lrs[int(np.argmin(curve))]
    assert min_div10 == pytest.approx(lowest / 10) and -2.3 <= math.log10(lowest) <= -1.9
    # a second plunge after the minimum (a loss falling again after blowing up) is not the steepest descent
    spiked = curve[:50] + [c + 30 - 3 * i for i, c in enumerate(curve[50:])]
    assert suggest(lrs, spiked, diverged=False)[0] == pytest.approx(1e-3)


def test_cli_lr_find_json_only_on_stdout_and_never_over_a_file(tmp_path, write_config, tiny_lenet, in_process):
    path = write_config(tiny_lenet)
    config_bytes = path.read_bytes()
    out = tmp_path / "lr"
    r = in_process("lr-find", "--config", path, "--out", out, "--json", "--steps", "25")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)  # nothing else on stdout
    s = result["suggestions"]
    assert set(s) == {"steepest", "min_div10"} and all(1e-7 <= v <= 10 for v in s.values())
    assert len(result["lr"]) == len(result["loss"]) == len(result["smoothed_loss"]) <= 25
    assert (out / "lr_find.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "lr_find.csv").read_text().splitlines()[0] == "lr,loss,smoothed_loss"
    assert path.read_bytes() == config_bytes
    png = (out / "lr_find.png").read_bytes()
    again = in_process("lr-find", "--config", path, "--out", out)
    assert again.returncode == 2 and "already has lr_find.png" in again.stderr
    assert (out / "lr_find.png").read_bytes() == png
    (tmp_path / "a_run").mkdir()
    (tmp_path / "a_run/config.yaml").write_text("name: x\n")
    into_run = in_process("lr-find", "--config", path, "--out", tmp_path / "a_run")
    assert into_run.returncode == 2 and "holds a training run" in into_run.stderr
    assert [p.name for p in (tmp_path / "a_run").iterdir()] == ["config.yaml"]


@pytest.mark.slow
def test_the_steepest_suggestion_trains_lenet_digits_to_98_5_percent(tmp_path, root):
    """Smith's recipe: the range test's lr as the maximum of one cycle (0.9861 on 2 CPU cores; with the
    config's cosine schedule the same lr gave 0.9805: on 360 test images one image is 0.0028, and nearby
    lrs move the result by one or two images either way)."""
    import dlnotes
    from dlnotes.config import load_config
    from dlnotes.tune.lr_find import lr_find

    config = root / "configs/lenet_digits.yaml"
    finding = lr_find(load_config(config), device="cpu", quiet=True)
    assert 1e-3 <= finding.steepest <= 1e-2 and finding.min_div10 < 1e-2
    cfg = load_config(config, [f"train.optimizer.lr={finding.steepest!r}", "train.scheduler.name=onecycle",
                               "device=cpu"])
    run = dlnotes.train(cfg, out=tmp_path / "run", quiet=True)
    assert run.metrics["epochs"] == 20
    assert run.metrics["accuracy"] >= 0.985, (finding.steepest, run.metrics["accuracy"])


@pytest.mark.slow
def test_under_torchrun_rank_0_decides_and_reports(tmp_path, write_config, tiny_lenet, root):
    import subprocess
    import sys

    path = write_config(tiny_lenet)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "dlnotes",
           "lr-find", "--config", str(path), "--out", str(tmp_path / "lr"), "--json", "--steps", "30"]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=root, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(r.stdout)  # one report: rank 0's
    assert set(result["suggestions"]) == {"steepest", "min_div10"}
    assert sorted(p.name for p in (tmp_path / "lr").iterdir()) == ["lr_find.csv", "lr_find.png"]
