"""DistributedDataParallel under torchrun: one process per GPU (nccl) or per CPU worker (gloo).

``init()`` returns None outside torchrun, so a single process pays nothing. ``data.batch_size`` is
the global batch: each of the ``world`` ranks takes ``batch_size / world`` samples of the same
shuffled permutation per step, so the global batch and the data order do not depend on ``world``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as tdist


@dataclass
class Dist:
    rank: int
    world: int
    local_rank: int
    backend: str

    def wrap(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        from torch.nn.parallel import DistributedDataParallel as DDP

        return DDP(model, device_ids=[device.index] if device.type == "cuda" else None)

    def sum(self, t: torch.Tensor) -> torch.Tensor:
        t = t.clone()
        tdist.all_reduce(t, op=tdist.ReduceOp.SUM)
        return t


def launched_rank() -> int:
    """This process's rank as torchrun announced it (0 outside torchrun, whatever a stray RANK says),
    before any process group exists."""
    from dlnotes.engine.launch import launched_rank as rank

    return rank()


def init() -> Dist | None:
    from dlnotes.engine.launch import under_launcher

    if not under_launcher():
        return None
    launched_rank()  # refuses a WORLD_SIZE without torchrun's rendezvous (MASTER_ADDR) in one line
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if not tdist.is_initialized():
        tdist.init_process_group(backend=backend)
    return Dist(tdist.get_rank(), tdist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")), backend)


def device(dist: Dist) -> torch.device:
    if dist.backend == "nccl":
        torch.cuda.set_device(dist.local_rank)
        return torch.device("cuda", dist.local_rank)
    return torch.device("cpu")


def finish(dist: Dist) -> None:
    if tdist.is_initialized():
        tdist.barrier()
        tdist.destroy_process_group()
