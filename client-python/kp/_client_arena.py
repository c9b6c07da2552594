"""Host copies of small shared-memory tensors, carved by this client from arenas it asked kpd
for (the local data socket's new_arena): a new tensor's host copy needs no round trip, and its
CreateTensorRequest names the place (CreateTensorRequest.region).

Arenas start at FIRST_ARENA bytes and double up to LARGEST_ARENA; places are GRAIN-aligned
(enough for every element type). Freed places are reused, first fit, merged with their
neighbours.
"""
from __future__ import annotations

import bisect
import mmap
import threading
from typing import Callable, List, Optional, Tuple

from ._errors import ResourceExhaustedError

FIRST_ARENA = 1 << 20
LARGEST_ARENA = 16 << 20
GRAIN = 64


class _Arena:
    def __init__(self, arena_id: int, mapped: mmap.mmap):
        self.id = arena_id
        self.mapped = mapped
        self.size = len(mapped)
        self.top = 0  # bytes above this were never handed out
        self.free: List[Tuple[int, int]] = []  # (offset, bytes) below top, sorted, apart

    def carve(self, size: int) -> int:
        """An offset of `size` free bytes, or -1."""
        for i, (offset, run) in enumerate(self.free):
            if run >= size:
                if run == size:
                    del self.free[i]
                else:
                    self.free[i] = (offset + size, run - size)
                return offset
        if self.size - self.top >= size:
            offset, self.top = self.top, self.top + size
            return offset
        return -1

    def release(self, offset: int, size: int) -> None:
        i = bisect.bisect_left(self.free, (offset, 0))
        self.free.insert(i, (offset, size))
        # Merge with the next run, then with the previous one.
        if i + 1 < len(self.free) and offset + size == self.free[i + 1][0]:
            size += self.free.pop(i + 1)[1]
            self.free[i] = (offset, size)
        if i > 0 and self.free[i - 1][0] + self.free[i - 1][1] == offset:
            offset, size = self.free[i - 1][0], self.free[i - 1][1] + size
            del self.free[i]
            i -= 1
            self.free[i] = (offset, size)
        if offset + size == self.top:  # the run at the top goes back above it
            self.top = offset
            del self.free[i]


class ClientArenas:
    """A session's client arenas. `new_arena(bytes)` asks kpd for one and returns its id and
    mapping."""

    def __init__(self, new_arena: Callable[[int], Tuple[int, mmap.mmap]]):
        self._new_arena = new_arena
        self._lock = threading.Lock()
        self._arenas: List[_Arena] = []
        self._by_id: dict = {}

    @staticmethod
    def _rounded(nbytes: int) -> int:
        return max(GRAIN, (nbytes + GRAIN - 1) // GRAIN * GRAIN)

    def carve(self, nbytes: int) -> Optional[Tuple[int, int, mmap.mmap]]:
        """(arena id, offset, arena mapping) of `nbytes` (at most FIRST_ARENA) of free space;
        None when kpd refused a new arena (the session's memory quota)."""
        size = self._rounded(nbytes)
        with self._lock:
            for arena in reversed(self._arenas):  # the newest has the most room
                offset = arena.carve(size)
                if offset >= 0:
                    return arena.id, offset, arena.mapped
            previous = self._arenas[-1].size if self._arenas else FIRST_ARENA // 2
            try:
                arena_id, mapped = self._new_arena(max(size, min(LARGEST_ARENA, 2 * previous)))
            except ResourceExhaustedError:
                return None
            arena = _Arena(arena_id, mapped)
            self._arenas.append(arena)
            self._by_id[arena_id] = arena
            offset = arena.carve(size)
            return arena.id, offset, arena.mapped

    def release(self, arena_id: int, offset: int, nbytes: int) -> None:
        """Gives a place back (its tensor was destroyed in kpd, or never created there)."""
        with self._lock:
            arena = self._by_id.get(arena_id)
            if arena is not None:
                arena.release(offset, self._rounded(nbytes))
