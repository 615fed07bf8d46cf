"""``dlnotes train --nproc N``: re-runs the same command under torchrun (one machine, N processes)."""

from __future__ import annotations

import subprocess
import sys


def launch(nproc: int, argv: list[str]) -> int:
    args, skip = [], False
    for a in argv:  # drop --nproc N / --nproc=N so the workers do not launch again
        if skip:
            skip = False
            continue
        if a == "--nproc":
            skip = True
            continue
        if a.startswith("--nproc="):
            continue
        args.append(a)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "dlnotes", *args]
    return subprocess.call(cmd)
