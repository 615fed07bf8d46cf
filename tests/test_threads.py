"""The intra-op thread policy (dlnotes/engine/threads.py): its decisions as a pure function of the
CPUs, the other runnable threads, the model's work, the environment and the setting; the FLOP count
against a hand count; the per-epoch switching; what meta.json records."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import torch

from dlnotes.engine import threads
from dlnotes.engine import flops
from dlnotes.engine.flops import forward_flops
from dlnotes.engine.threads import Threads, decide, work_threads

QUIET: dict[str, str] = {}


@pytest.mark.parametrize("cpus,others,work,expected", [
    (2, 0, 3, 2),     # LeNet on digits alone on 2 cores: both threads
    (2, 1, 3, 1),     # beside one busy process: one thread, a whole core of its own
    (2, 2, 3, 1),     # beside two: still one (never zero)
    (2, 0, 1, 1),     # a small MLP alone: one thread, its parallel regions are too short to share
    (8, 3, 16, 5),    # 8 CPUs, 3 taken: the 5 free ones
    (8, 0, 2, 2),     # the work caps it below the free CPUs
    (8, 0, None, 8),  # unknown work (streamed data, CUDA): every free CPU
    (4, 0.4, 4, 4),   # a fraction of another process (scaled to our CPUs) rounds away
    (4, 9, 4, 1),
])
def test_auto_takes_the_smaller_of_the_work_and_the_free_cpus(cpus, others, work, expected):
    assert decide("auto", cpus=cpus, others=others, work=work, env=QUIET) == (expected, "auto")


@pytest.mark.parametrize("var", ["OMP_NUM_THREADS", "MKL_NUM_THREADS"])
@pytest.mark.parametrize("setting", ["auto", 3])
def test_the_environment_wins_over_the_config_and_the_rule(var, setting):
    assert decide(setting, cpus=2, others=1, work=3, env={var: "2"}) == (None, var)


def test_an_empty_environment_variable_does_not_count():
    assert decide("auto", cpus=2, others=0, work=3, env={"OMP_NUM_THREADS": " "}) == (2, "auto")


@pytest.mark.parametrize("setting", [1, 3, 64])
def test_a_number_in_the_config_is_kept_whatever_the_load(setting):
    assert decide(setting, cpus=2, others=5, work=1, env={"OMP_WAIT_POLICY": "PASSIVE"}) == (setting, "train.threads")


def test_work_threads_per_16_mflop():
    assert [work_threads(f) for f in (None, 0, 1.3e6, 15.9e6, 16e6, 53.3e6)] == [None, 1, 1, 1, 1, 3]


def test_forward_flops_match_a_hand_count_and_change_nothing():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(12, 128), torch.nn.ReLU(), torch.nn.Dropout(0.5),
                                torch.nn.Linear(128, 3))
    x = torch.randn(50, 12)
    rng = torch.get_rng_state()
    for dispatch in (False, True):
        counted = forward_flops(model, x, batch_size=64, dispatch=dispatch)
        assert counted == 64 * 2 * (12 * 128 + 128 * 3)  # a matrix product of (n, k) by (k, m): 2 n k m
    assert model.training and torch.equal(torch.get_rng_state(), rng)


def _model(name, **kw):
    from dlnotes.registry import MODELS

    return MODELS.get(name)(**kw)


SEQ = torch.randn(5, 20, 3)
COUNTED = {  # every registered model, and the layer options that change what runs
    "lenet": (lambda: _model("lenet", image_size=28), torch.randn(5, 1, 28, 28)),
    "lenet 16 px, 3 channels": (lambda: _model("lenet", in_channels=3, image_size=16), torch.randn(5, 3, 16, 16)),
    "alexnet groups 2": (lambda: _model("alexnet", num_classes=10, image_size=64, groups=2, width=0.25),
                         torch.randn(5, 3, 64, 64)),
    "mlp": (lambda: _model("mlp", in_features=30, num_classes=2, hidden_sizes=[16, 8]), torch.randn(5, 30)),
    "linear_regression": (lambda: _model("linear_regression", in_features=7), torch.randn(5, 7)),
    "logistic_regression manual": (lambda: _model("logistic_regression", in_features=7, gradient="manual"),
                                   torch.randn(5, 7)),
    "rnn": (lambda: _model("rnn", input_size=3, num_classes=4, hidden_size=8), SEQ),
    "gru": (lambda: _model("gru", input_size=3, horizon=2, hidden_size=8), SEQ),
    "gru scratch": (lambda: _model("gru", input_size=3, num_classes=4, hidden_size=8, impl="scratch"), SEQ),
    "lstm scratch 2 layers": (lambda: _model("lstm", input_size=3, num_classes=4, hidden_size=8, impl="scratch",
                                             num_layers=2, bidirectional=True), SEQ),
    "gru text": (lambda: _model("gru", vocab_size=12, hidden_size=8, embed_dim=5), torch.randint(0, 12, (5, 20))),
    "torch cells": (lambda: torch.nn.Sequential(torch.nn.LSTMCell(3, 8)), torch.randn(5, 3)),
    "a layer called by keyword": (lambda: _ByKeyword(), torch.randn(5, 6)),
    "a matrix multiplied by hand": (lambda: _ByHand(), torch.randn(5, 6)),
}


class _ByKeyword(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.gru = torch.nn.Linear(6, 4), torch.nn.GRU(1, 3, batch_first=True)

    def forward(self, x):
        return self.gru(input=self.fc(input=x).unsqueeze(-1))[0]


class _ByHand(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(6, 4))

    def forward(self, x):
        return x @ self.w


@pytest.mark.parametrize("name", list(COUNTED))
def test_layer_hooks_count_what_torchs_flop_counter_counts(name):
    """The hooks of engine/flops.py against torch.utils.flop_counter on every kind of model dlnotes builds
    (and a layer they do not know: then flop_counter counts)."""
    make, x = COUNTED[name]
    torch.manual_seed(0)
    model = make()
    assert forward_flops(model, x, 64) == forward_flops(model, x, 64, dispatch=True) > 0
    with torch.no_grad():  # counted by the hooks themselves, except where a layer is unknown to them
        assert (flops._hooked_count(model.eval(), x) is None) == (name == "a matrix multiplied by hand")


@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, True)])
def test_torchs_lstm_counts_as_its_step_by_step_twin(layers, bidirectional):
    """torch's LSTM runs as one fused op on a CPU, which flop_counter has no formula for (it counts 0 for it);
    the same layers from dlnotes.nn.cells (impl: scratch, the same parameters) run as matrix products
    flop_counter does count: the hooks give the fused model that count."""
    kw = {"input_size": 3, "num_classes": 4, "hidden_size": 8, "num_layers": layers, "bidirectional": bidirectional}
    fused, scratch = _model("lstm", **kw), _model("lstm", impl="scratch", **kw)
    assert forward_flops(fused, SEQ, 64) == forward_flops(scratch, SEQ, 64, dispatch=True) > 2 * 64 * 8 * 4


@pytest.fixture
def policy(monkeypatch):
    """A Threads object on 2 CPUs whose load readings come from a list; torch's count restored after."""
    before = torch.get_num_threads()
    readings: list[float] = []
    monkeypatch.setattr(threads, "usable_cpus", lambda: 2)
    monkeypatch.setattr(threads, "other_runnable", lambda cpus: readings.pop(0))

    def make(first: float, flops: float | None, env=None):
        readings.append(first)
        return Threads("auto", flops, env=env if env is not None else {}), readings

    yield make
    torch.set_num_threads(before)


def test_fewer_threads_at_once_more_only_when_two_checks_agree(policy):
    t, readings = policy(0, 53e6)
    assert t.threads == 2 == torch.get_num_threads()
    readings.extend([1, 0, 1, 0, 0, 0])
    assert [t.update() for _ in range(6)] == [1, 1, 1, 1, 2, 2]  # a busy moment between two quiet ones: stays down
    assert torch.get_num_threads() == 2
    assert t.describe() == {"setting": "auto", "source": "auto", "threads": 2, "cpus": 2, "others_runnable": 0,
                            "work_threads": 3, "forward_mflops": 53.0}


def test_a_small_model_keeps_one_thread_on_a_quiet_machine(policy):
    t, readings = policy(0, 1.3e6)
    readings.extend([0, 0, 0])
    assert [t.threads] + [t.update() for _ in range(3)] == [1, 1, 1, 1]


def test_with_the_environment_set_the_policy_never_changes_torch(policy, monkeypatch):
    calls = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    t, readings = policy(0, 53e6, env={"OMP_NUM_THREADS": "1"})
    readings.extend([5, 0])
    t.update(), t.update()
    assert calls == [] and t.source == "OMP_NUM_THREADS" and t.threads == torch.get_num_threads()


@pytest.mark.parametrize("online,expected", [(4, 3.0), (8, 1.5)])
def test_others_are_the_runnable_count_less_our_running_threads(tmp_path, monkeypatch, online, expected):
    (tmp_path / "loadavg").write_text("3.10 2.50 1.90 5/312 4242\n")
    for tid, state in ((100, "R"), (101, "S"), (102, "R")):
        (tmp_path / "self" / "task" / str(tid)).mkdir(parents=True)
        (tmp_path / "self" / "task" / str(tid) / "stat").write_text(f"{tid} (python (x)) {state} 1 2 3 4\n")
    monkeypatch.setattr(os, "cpu_count", lambda: online)
    # 5 runnable, 2 of them ours: 3 others on a 4-CPU machine; on 8 CPUs, half of them on ours
    assert threads.other_runnable(4, proc=tmp_path) == expected
    assert threads.other_runnable(4, proc=tmp_path / "missing") == 0.0


def test_a_busy_process_counts_as_another_runnable_thread():
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # started and spinning: always runnable from now on
        cpus = threads.usable_cpus()
        assert threads.other_runnable(cpus) >= cpus / max(cpus, os.cpu_count())  # one process, scaled to our CPUs
    finally:
        busy.kill()
        busy.wait()


@pytest.mark.parametrize("value", [0, -1, 1.5, "many", True, 5000])
def test_config_refuses_a_thread_count_that_is_not_auto_or_a_whole_number(write_config, tiny_lenet, value):
    from dlnotes.config import load_config
    from dlnotes.errors import UserError

    tiny_lenet["train"]["threads"] = value
    with pytest.raises(UserError, match=r"train.threads: must be auto or a whole number of threads from 1 to 4096"):
        load_config(write_config(tiny_lenet))


def test_meta_records_the_threads_and_the_environment_that_set_them(tmp_path, tiny_lenet):
    import json

    import dlnotes
    from dlnotes.config import validate

    tiny_lenet["train"].update(epochs=1, threads=2)
    dlnotes.train(validate(tiny_lenet), out=tmp_path / "run", quiet=True)
    recorded = json.loads((tmp_path / "run" / "meta.json").read_text())["threads"]
    assert recorded == {"setting": 2, "source": "OMP_NUM_THREADS", "threads": torch.get_num_threads(),
                        "cpus": threads.usable_cpus()}


def test_for_training_counts_the_work_unless_the_environment_fixes_the_count(policy, monkeypatch):
    model, x = torch.nn.Linear(12, 3), torch.randn(100, 12)
    _, readings = policy(0, None)  # the fixture's patches: 2 CPUs, the load readings below
    fixed = Threads.for_training("auto", model, x, 64, torch.device("cpu"))
    assert fixed.flops is None and fixed.source == "OMP_NUM_THREADS"  # conftest sets it for the test workers
    assert readings == []  # no load reading either
    for var in threads.ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    readings.append(0)
    free = Threads.for_training("auto", model, x, 64, torch.device("cpu"))
    assert free.flops == 64 * 2 * 12 * 3 and free.describe()["threads"] == 1 == torch.get_num_threads()


@pytest.mark.parametrize("readings,expected", [([0, 3, 0, 0, 0], 0), ([3, 3, 0, 3, 3], 3), ([1, 2, 1, 2, 2], 2)])
def test_a_thread_runnable_for_a_moment_is_not_a_competitor(monkeypatch, readings, expected):
    """The median of five readings: one blip (a shell, a kernel worker) is not a busy process, a busy
    process missing from one reading still is."""
    monkeypatch.setattr(threads, "_others_now", lambda proc: readings.pop(0))
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert threads.other_runnable(2, gap_s=0) == expected
