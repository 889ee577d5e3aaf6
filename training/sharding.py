"""One global batch split over the ranks of a distributed run (torch-free: the sampler uses it).

Every rank draws the random numbers of the whole global batch (same seed, same order) and keeps
only its own contiguous rows, so N processes see exactly the batches of one process."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Shard:
    """This rank's part of a global batch of ``sum(sizes)`` samples: the contiguous ``rows``
    (indices into the global batch); ``replicated`` when the batch is too small to give every
    rank a sample (each rank then holds the whole batch and nothing is gathered)."""

    rows: np.ndarray
    sizes: tuple[int, ...]
    replicated: bool = False

    @property
    def global_size(self) -> int:
        return int(sum(self.sizes))

    @property
    def gathers(self) -> bool:
        """True when the batch is split across ranks (predictions must be gathered)."""
        return len(self.sizes) > 1 and not self.replicated


def shard_rows(batch_size: int, world_size: int = 1, rank: int = 0) -> Shard:
    """Contiguous split of ``range(batch_size)`` over ``world_size`` ranks (sizes differ by at
    most one); a batch smaller than ``world_size`` is replicated on every rank."""
    b = int(batch_size)
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in a world of {world_size}")
    if world_size == 1 or b < world_size:
        return Shard(np.arange(b), (b,), replicated=world_size > 1)
    parts = np.array_split(np.arange(b), world_size)
    return Shard(parts[rank], tuple(len(p) for p in parts))
