"""Splitting a stage's videos into shards that separate processes or machines run side by side.

``--shard i/n`` (1 <= i <= n) selects the videos whose shard is ``i``:

    shard(video) = CRC-32(video name as UTF-8) mod n + 1

The rule looks at the name alone, so a video keeps its shard whatever else is in the folder, in
every stage, on every machine and Python version (Python's own ``hash`` of a string changes from
run to run). Every video belongs to exactly one of the ``n`` shards.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

_SHARD_RE = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


def shard_of(video: str, count: int) -> int:
    """The 1-based shard of ``video`` among ``count`` shards."""
    return zlib.crc32(video.encode("utf-8")) % count + 1


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (1-based)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 1 <= self.index <= self.count:
            raise ValueError(f"shard {self.index}/{self.count}: need 1 <= i <= n")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"2/4"`` -> ``Shard(2, 4)``; a clear ``ValueError`` otherwise."""
        m = _SHARD_RE.fullmatch(text)
        if not m:
            raise ValueError(f"shard {text!r}: expected i/n, e.g. 1/4")
        return cls(int(m.group(1)), int(m.group(2)))

    def selects(self, video: str) -> bool:
        return shard_of(video, self.count) == self.index

    @property
    def tag(self) -> str:
        """Used in file names: ``shard-2-of-4``."""
        return f"shard-{self.index}-of-{self.count}"

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
