"""Where training runs: device selection, bf16 autocast on CUDA, DistributedDataParallel under torchrun."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass
class Runtime:
    device: torch.device
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def autocast(self):
        """bf16 autocast on CUDA only (CPU runs stay float32)."""
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda")


def setup_runtime(device: str = "auto") -> Runtime:
    """Device auto-selection; under torchrun (WORLD_SIZE > 1) joins the process group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(local)
        torch.distributed.init_process_group("nccl" if cuda else "gloo")
        return Runtime(torch.device(f"cuda:{local}" if cuda else "cpu"), torch.distributed.get_rank(), world)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return Runtime(torch.device(device))


def body_device(body) -> torch.device:
    return getattr(body, "device", torch.device("cpu"))
