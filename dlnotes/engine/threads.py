"""How many intra-op threads training uses: by the model's work per step and the CPUs free right now.

The rule (``train.threads: auto``, the default), decided before the first epoch and again at the start
of every epoch:

    threads = max(1, min(work, free))
    work    = forward FLOPs of one training batch // WORK_PER_THREAD   (16 MFLOP)
    free    = usable CPUs - other runnable threads

- ``work``: how many threads one step can keep busy. LeNet on 28x28 digits, batch 64, is 53 MFLOP per
  forward pass (3 threads' worth); an MLP on a table (~1 MFLOP) and the MNIST-1D GRU (3 MFLOP in
  80 small steps) are one thread's worth: their parallel regions are too short to share.
  Counted once, by ``engine/flops.py`` on a few training rows (eval mode, no grad). Streamed
  data and CUDA count as large work: only ``free`` limits them.
- ``usable``: the CPUs this process may run on (``os.sched_getaffinity``), fewer under a cgroup
  CPU quota (``cpu.max``).
- ``free``: the kernel's instantaneous count of runnable threads (``/proc/loadavg``, 4th field) minus
  this process's own running threads (``/proc/self/task/*/stat``). When the machine has more CPUs
  than this process may use, the others are scaled by usable/online (the count is machine-wide).
  DataLoader workers and the other ranks of a ``torchrun`` on the same machine count as others too:
  they want the same CPUs.
- A lower count applies at once; a higher one only when two checks in a row agree, so a process that
  was running for a moment does not make training switch back and forth.

Why: torch's OpenMP threads meet at the end of every parallel region, and the ones that arrive spin
until the last one does. When another process holds a CPU, one of our threads is descheduled and the
others spin for it, at every region. Measured on 2 cores: a 10-epoch MLP on a 54,000-row table took
6.5 s alone, 13.8 s beside one CPU-bound process and 21.4 s beside two with two threads; with one
thread 6.4 s alone and 9.3 s beside two. LeNet on digits does gain from two threads alone (5.45 s
against 6.28 s), so one thread always would cost it 15%. ``OMP_WAIT_POLICY=PASSIVE`` (sleep instead of
spinning) helps under load but cost LeNet 20% alone; with no more threads than free CPUs nobody waits
long, so the wait policy is left as the user (or libgomp) set it.

Who wins: ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` in the environment (torch read them at start;
nothing is changed), then ``train.threads: N`` (fixed), then the rule. ``OMP_WAIT_POLICY`` is never
set here. What was chosen goes into meta.json (``threads``).

Float sums split over threads round differently, so a run whose thread count changes between epochs
can differ in the last bits from one that does not; pin the count (``train.threads: N`` or
``OMP_NUM_THREADS``) when bit-for-bit repeats matter.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from pathlib import Path

import torch

from dlnotes.engine.flops import forward_flops

ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
WORK_PER_THREAD = 16e6  # forward FLOPs per step that make one more thread pay (see module docstring)


def decide(setting: str | int, *, cpus: int, others: float, work: int | None,
           env: Mapping[str, str]) -> tuple[int | None, str]:
    """(threads, source): the rule of the module docstring as a pure function.

    ``threads`` is None when an environment variable fixes the count (torch already applied it).
    ``work`` is the number of threads the model's step can use (None: unknown, as many as free)."""
    var = fixed_by(env)
    if var is not None:
        return None, var
    if setting != "auto":
        return int(setting), "train.threads"
    free = cpus - round(others)
    return max(1, min(work or cpus, free, cpus)), "auto"


def fixed_by(env: Mapping[str, str]) -> str | None:
    """The environment variable that fixes the thread count, if one is set."""
    return next((var for var in ENV_VARS if env.get(var, "").strip()), None)


def work_threads(flops: float | None) -> int | None:
    """Threads one step's forward FLOPs can keep busy (at least 1); None when unknown."""
    return None if flops is None else max(1, int(flops // WORK_PER_THREAD))


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask, fewer under a cgroup v2 CPU quota."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cpus


def other_runnable(cpus: int, proc: Path = Path("/proc"), samples: int = 5, gap_s: float = 0.004) -> float:
    """Runnable threads of other processes, scaled to ``cpus`` of the machine's online CPUs: the median of
    ``samples`` readings ``gap_s`` apart, so that a thread runnable for a moment (a shell, a kernel worker)
    does not count as a process competing all epoch long while one that is really busy does (0 where /proc
    is missing: the rule then follows the work alone)."""
    readings = []
    for k in range(samples):
        if k:
            time.sleep(gap_s)
        try:
            readings.append(_others_now(proc))
        except (OSError, IndexError, ValueError):
            return 0.0
    return sorted(readings)[len(readings) // 2] * cpus / max(cpus, os.cpu_count() or cpus)


def _others_now(proc: Path) -> int:
    """One reading: the runnable threads of /proc/loadavg less our own running ones (at least one: us)."""
    running = int((proc / "loadavg").read_text().split()[3].split("/")[0])
    own = 0
    for task in (proc / "self" / "task").iterdir():
        try:
            own += (task / "stat").read_text().rpartition(")")[2].split()[0] == "R"
        except (OSError, IndexError):  # the thread ended while we looked
            pass
    return max(0, running - max(own, 1))


class Threads:
    """The thread count of one training run: ``update()`` at every epoch start applies the rule."""

    def __init__(self, setting: str | int, flops: float | None, env: Mapping[str, str] | None = None):
        self.setting, self.flops = setting, flops
        self.env = os.environ if env is None else env
        self.cpus = usable_cpus()
        self.work = work_threads(flops)
        self.threads, self.source = torch.get_num_threads(), "torch"
        self.others = 0.0
        self._higher = 0  # checks in a row that allowed more threads than now
        self.update(first=True)

    @classmethod
    def for_training(cls, setting: str | int, model: torch.nn.Module, train_x, batch_size: int,
                     device: torch.device) -> "Threads":
        """Counts the model's work on the training data when it is a CPU tensor (else: unknown), unless
        the environment fixes the count anyway."""
        flops = None
        counted = setting == "auto" and fixed_by(os.environ) is None and device.type == "cpu"
        if counted and torch.is_tensor(train_x) and len(train_x):
            flops = forward_flops(model, train_x, batch_size)
        return cls(setting, flops)

    def update(self, first: bool = False) -> int:
        if not first and self.source != "auto":
            return self.threads  # fixed by the environment or the config
        self.others = other_runnable(self.cpus) if self.setting == "auto" and not fixed_by(self.env) else 0.0
        want, self.source = decide(self.setting, cpus=self.cpus, others=self.others, work=self.work, env=self.env)
        if want is None:
            self.threads = torch.get_num_threads()
            return self.threads
        self._higher = self._higher + 1 if want > self.threads else 0
        if first or want < self.threads or self._higher >= 2:
            self._higher = 0
            if want != torch.get_num_threads():
                torch.set_num_threads(want)
            self.threads = want
        return self.threads

    def describe(self) -> dict:
        """What meta.json records: the setting, who decided, the count at the start and its inputs."""
        out = {"setting": self.setting, "source": self.source, "threads": self.threads, "cpus": self.cpus}
        if self.source == "auto":
            out.update({"others_runnable": round(self.others, 2), "work_threads": self.work,
                        "forward_mflops": None if self.flops is None else round(self.flops / 1e6, 2)})
        return out
