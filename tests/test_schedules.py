"""Per-step schedules (onecycle, warmup_cosine): torch's OneCycleLR and the written formula as references,
the trainer's stepping, and a run killed mid-epoch that resumes to the same bytes."""

import math
import os
import signal
import subprocess
import sys

import pytest
import torch

from dlnotes.engine.optim import onecycle, warmup_cosine

# the small network of mlp_digits, short enough that three epochs and a resume take seconds
TINY_MLP = {
    "name": "tiny_mlp", "seed": 0,
    "data": {"name": "digits", "image_size": 8, "batch_size": 128, "val_fraction": 0.1},
    "model": {"name": "mlp", "hidden_sizes": [32], "activation": "relu"},
    "train": {"epochs": 2, "optimizer": {"name": "adam", "lr": 0.01}},
}
ONECYCLE = {"name": "onecycle", "pct_start": 0.25, "div_factor": 10.0, "final_div_factor": 100.0}
WARMUP = {"name": "warmup_cosine", "warmup_steps": 8, "min_lr": 0.0005}


def lrs_of(scheduler_fn, steps, **kw):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.01)
    sched = scheduler_fn(opt, steps=steps, **kw)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


@pytest.mark.parametrize("steps, pct, div, final", [(100, 0.3, 25.0, 1e4), (37, 0.25, 10.0, 100.0),
                                                    (420, 0.5, 3.0, 1.0), (7, 0.6, 25.0, 1e4)])
def test_onecycle_equals_torchs_one_cycle_lr_at_every_step(steps, pct, div, final):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.5)
    ref = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.01, total_steps=steps, pct_start=pct, div_factor=div,
                                              final_div_factor=final, cycle_momentum=False)
    expected = []
    for s in range(steps):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        if s < steps - 1:  # torch refuses to step past its last step
            ref.step()
    ours = lrs_of(onecycle, steps, pct_start=pct, div_factor=div, final_div_factor=final)
    assert max(abs(a - b) for a, b in zip(ours, expected)) <= 1e-12
    # max_lr given explicitly: the optimizer's own lr no longer matters
    assert lrs_of(onecycle, steps, max_lr=0.01, pct_start=pct, div_factor=div, final_div_factor=final) == \
        pytest.approx(expected, abs=1e-12)


def test_warmup_cosine_follows_its_formula():
    lr, W, T, floor = 0.01, 15, 60, 0.0005
    expected = [lr * (s + 1) / W if s < W else floor + (lr - floor) * (1 + math.cos(math.pi * (s - W) / (T - W))) / 2
                for s in range(T)]
    assert lrs_of(warmup_cosine, T, warmup_steps=W, min_lr=floor) == pytest.approx(expected, abs=1e-15)
    assert lrs_of(warmup_cosine, 5, warmup_steps=0)[0] == pytest.approx(lr)  # no warmup: cosine from the top


def test_the_trainer_steps_them_per_batch_and_records_the_epochs_last_lr():
    from dlnotes.collect import load_data
    from dlnotes.config import validate
    from dlnotes.engine.optim import one_cycle_lr
    from dlnotes.engine.trainer import Trainer
    from dlnotes.models import build_model, model_args

    cfg = validate({**TINY_MLP, "train": {**TINY_MLP["train"], "epochs": 2, "scheduler": ONECYCLE}})
    data = load_data(cfg)
    model = build_model("mlp", model_args("mlp", cfg.extras("model"), data.model_inputs()))
    t = Trainer(cfg, model, data, torch.device("cpu"), quiet=True)
    seen = []
    t.log_step = lambda step, lr: seen.append((step, lr))
    history = t.fit()
    n = len(t.batches)
    total = 2 * n
    expected = [one_cycle_lr(s, total, 0.01, 0.25, 10.0, 100.0) for s in range(total)]
    assert [s for s, _ in seen] == list(range(total))
    assert [lr for _, lr in seen] == pytest.approx(expected, abs=1e-15)
    assert [row["lr"] for row in history] == pytest.approx([expected[n - 1], expected[2 * n - 1]], abs=1e-15)


KILLER = """
import os, signal, sys
from dlnotes.engine import trainer
trainer.SAVE_EVERY_S = 0.0  # every epoch end is committed, as a slow epoch would be
step, count = trainer.Trainer.step, [0]
def killed_at(self):
    step(self)
    count[0] += 1
    if count[0] == int(os.environ["KILL_AT_STEP"]):
        os.kill(os.getpid(), signal.SIGKILL)
trainer.Trainer.step = killed_at
from dlnotes.cli import main
sys.argv = ["dlnotes", *sys.argv[1:]]
main()
"""



@pytest.mark.parametrize("schedule", [ONECYCLE, WARMUP], ids=["onecycle", "warmup_cosine"])
def test_a_run_killed_mid_epoch_resumes_to_the_same_bytes(schedule, tmp_path, write_config, root, no_figures):
    import dlnotes
    from dlnotes.engine.rundir import RunDir

    cfg = {**TINY_MLP, "train": {**TINY_MLP["train"], "scheduler": schedule}}
    path = write_config(cfg)
    dlnotes.train(path, out=tmp_path / "whole", quiet=True)
    steps = 11  # ceil(1293 / 128) training steps per epoch
    killed = subprocess.run([sys.executable, "-c", KILLER, "train", "--config", path, "--out", tmp_path / "killed",
                             "-q"], cwd=root, env={**os.environ, "KILL_AT_STEP": str(steps + 4)},
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert RunDir(tmp_path / "killed").epochs_completed() == 1  # the kill came 4 steps into epoch 2
    dlnotes.train(resume=tmp_path / "killed", quiet=True)
    assert (tmp_path / "killed/model.safetensors").read_bytes() == (tmp_path / "whole/model.safetensors").read_bytes()
    lrs = [row["lr"] for row in RunDir(tmp_path / "killed").read_history()]
    assert len(lrs) == 2 and lrs == [row["lr"] for row in RunDir(tmp_path / "whole").read_history()]


def test_config_checks_the_new_schedules_keys(write_config):
    from dlnotes.config import load_config, resolved
    from dlnotes.errors import UserError

    cfg = load_config(write_config({**TINY_MLP, "train": {"scheduler": {"name": "onecycle"}}}))
    assert resolved(cfg)["train"]["scheduler"] == {"name": "onecycle", "max_lr": None, "pct_start": 0.3,
                                                     "div_factor": 25.0, "final_div_factor": 1e4}
    for bad, key in [({"name": "onecycle", "pct_start": 1.5}, "pct_start"),
                     ({"name": "onecycle", "steps": 10}, "steps"),
                     ({"name": "warmup_cosine", "warmup_steps": -1}, "warmup_steps"),
                     ({"name": "warmup_cosine", "warmup": 10}, "warmup_steps")]:
        with pytest.raises(UserError, match=key):
            load_config(write_config({**TINY_MLP, "train": {"scheduler": bad}}))


def test_tensorboard_gets_every_steps_lr_and_history_each_epochs_last(tmp_path, write_config, no_figures):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    import dlnotes
    from dlnotes.engine.optim import warmup_cosine_lr
    from dlnotes.engine.rundir import RunDir

    cfg = {**TINY_MLP, "train": {**TINY_MLP["train"], "scheduler": WARMUP, "tensorboard": True}}
    dlnotes.train(write_config(cfg), out=tmp_path / "run", quiet=True)
    acc = EventAccumulator(str(tmp_path / "run/tensorboard"))
    acc.Reload()
    steps = 11 * 2
    expected = [warmup_cosine_lr(s, steps, 0.01, 8, 0.0005) for s in range(steps)]
    events = acc.Scalars("lr/step")
    assert [e.step for e in events] == list(range(steps))
    assert [e.value for e in events] == pytest.approx(expected, rel=1e-6)  # TensorBoard keeps float32
    assert [row["lr"] for row in RunDir(tmp_path / "run").read_history()] == \
        pytest.approx([expected[10], expected[21]], rel=1e-5)  # history.csv keeps 6 digits
