"""Launch geometry of the fused sparse GEMV kernel (pure Python, no CuPy).

A block covers one column tile of ``32 * vec`` outputs and one slice of the
inputs for one vector; the inputs are split into ``ksplit`` slices when the
tiles and vectors alone would leave the GPU idle (few outputs, many inputs:
e.g. the m = n/2 shapes of arXiv 2602.05779 Table 3) or when n exceeds one
compaction pass.
"""
from dataclasses import dataclass
from math import ceil

from gpu.cuda_source import BLOCK_THREADS, CHUNK, MIN_BLOCKS_PER_SM

#: Smallest input slice worth a block of its own (one compaction round).
MIN_SLICE = BLOCK_THREADS
#: Slices are rounded up to this many inputs so that reads of x stay aligned.
SLICE_ALIGN = 32
#: CUDA's limit on gridDim.y and gridDim.z.
MAX_GRID_YZ = 65535


@dataclass(frozen=True)
class LaunchConfig:
    """Grid ``(batch, ksplit, tiles)`` of ``BLOCK_THREADS``-thread blocks."""

    batch: int
    tiles: int
    tile_width: int
    ksplit: int
    slice: int

    @property
    def grid(self) -> tuple[int, int, int]:
        return (self.batch, self.ksplit, self.tiles)

    @property
    def partial_size(self) -> int:
        """float32 workspace entries for the split-K partial tiles (0 when ksplit == 1)."""
        if self.ksplit == 1:
            return 0
        return self.batch * self.tiles * self.ksplit * self.tile_width

    @property
    def ticket_size(self) -> int:
        """uint32 tickets, one per (vector, tile)."""
        return self.batch * self.tiles


def launch_config(m: int, n: int, batch: int, vec: int, sm_count: int) -> LaunchConfig:
    """Choose tiles and the k-split so that at least ``MIN_BLOCKS_PER_SM * sm_count`` blocks run.

    Every slice fits the kernel's single compaction pass (``slice <= CHUNK``)
    and is a multiple of ``SLICE_ALIGN``; when n is split, slices hold at
    least ``MIN_SLICE`` inputs; no slice is empty.
    """
    if min(m, n, batch, vec, sm_count) < 1:
        raise ValueError("m, n, batch, vec and sm_count must all be >= 1")
    tile_width = 32 * vec
    tiles = ceil(m / tile_width)
    if tiles > MAX_GRID_YZ:
        raise ValueError(f"m = {m} needs {tiles} column tiles, more than the grid allows")
    min_split = ceil(n / CHUNK)
    if min_split > MAX_GRID_YZ:
        raise ValueError(f"n = {n} needs {min_split} input slices, more than the grid allows")
    wanted = ceil(MIN_BLOCKS_PER_SM * sm_count / (tiles * batch))
    ksplit = max(min_split, min(wanted, n // MIN_SLICE, MAX_GRID_YZ))
    slice_ = ceil(ceil(n / ksplit) / SLICE_ALIGN) * SLICE_ALIGN
    return LaunchConfig(batch, tiles, tile_width, ceil(n / slice_), slice_)
