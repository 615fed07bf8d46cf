"""``dlnotes train --nproc N``: re-runs the same command under torchrun (one machine, N processes); and
whether this process is one of such a group (read from the environment, without importing torch).

torchrun gives every process RANK, LOCAL_RANK, WORLD_SIZE and MASTER_ADDR/PORT. A process is one of a
launched group only when WORLD_SIZE is above 1: a RANK left over in a shell (``export RANK=1`` for
another tool) is not a launch, and must neither silence a run nor stop it from writing its results.
"""

from __future__ import annotations

import os
import subprocess
import sys

from dlnotes.errors import UserError


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, str(default))
    try:
        return int(value)
    except ValueError:
        raise UserError(f"the environment variable {name}={value!r} is not a whole number; torchrun sets it "
                        f"(unset it to train in one process)") from None


def under_launcher() -> bool:
    """One process of a group started by torchrun: WORLD_SIZE above 1."""
    return _env_int("WORLD_SIZE", 1) > 1


def launched_rank() -> int:
    """This process's rank in a launched group (RANK), 0 when it runs alone whatever RANK says."""
    if not under_launcher():
        return 0
    if "MASTER_ADDR" not in os.environ:
        raise UserError(f"WORLD_SIZE={os.environ['WORLD_SIZE']} is set but MASTER_ADDR is not, so this process was "
                        f"not started by torchrun; unset WORLD_SIZE and RANK, or use dlnotes train --nproc N")
    return _env_int("RANK", 0)


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
