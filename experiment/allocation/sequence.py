"""The randomisation sequence: permuted blocks of randomly varying size, one list per stratum.

Every block holds each group equally often (a block of 10 over five groups holds each twice),
in random order, and the size of each block is itself drawn at random from the allowed sizes,
so someone who knows the last few groups still cannot tell where a block ends. At any point in
a stratum's list the groups therefore differ by at most ``largest block / number of groups``.

The random numbers come from SHA-256 in counter mode keyed by the study's secret seed and the
stratum name, not from Python's ``random``: the same seed gives the same sequence on any
machine and any Python version, so an auditor holding the seed can regenerate the list and
compare it with the ledger.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


class SeededStream:
    """Deterministic, uniformly distributed integers from (seed, stratum)."""

    def __init__(self, seed: int, stratum: str) -> None:
        self._key = f"{seed}\x1f{stratum}".encode()
        self._counter = 0

    def _next_u64(self) -> int:
        block = hashlib.sha256(self._key + self._counter.to_bytes(8, "big")).digest()
        self._counter += 1
        return int.from_bytes(block[:8], "big")

    def below(self, n: int) -> int:
        """A uniform integer in [0, n): rejection sampling, so there is no modulo bias."""
        limit = (1 << 64) - ((1 << 64) % n)
        while (value := self._next_u64()) >= limit:
            pass
        return value % n

    def shuffle(self, items: list) -> None:
        for i in range(len(items) - 1, 0, -1):  # Fisher-Yates
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]


def check_block_sizes(block_sizes: Sequence[int], n_groups: int) -> None:
    if not block_sizes or any(size <= 0 or size % n_groups for size in block_sizes):
        raise ValueError(
            f"block sizes {list(block_sizes)} must be positive multiples of the number of groups ({n_groups})"
        )


def stratum_sequence(seed: int, stratum: str, groups: Sequence[str], block_sizes: Sequence[int], n: int) -> list[str]:
    """The first ``n`` groups of ``stratum``'s sequence."""
    check_block_sizes(block_sizes, len(groups))
    stream = SeededStream(seed, stratum)
    sequence: list[str] = []
    while len(sequence) < n:
        size = block_sizes[stream.below(len(block_sizes))]
        block = [group for group in groups for _ in range(size // len(groups))]
        stream.shuffle(block)
        sequence += block
    return sequence[:n]


def imbalance_bound(block_sizes: Sequence[int], n_groups: int) -> int:
    """The most two groups can ever differ by, anywhere in a stratum's sequence."""
    return max(block_sizes) // n_groups
