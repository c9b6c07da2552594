"""kp._client_arena: places carved from client arenas never overlap, and freed ones are reused
(no daemon: the arenas are plain anonymous mappings here)."""
import mmap
import random

from kp._client_arena import FIRST_ARENA, GRAIN, ClientArenas


def arenas():
    made = []

    def new_arena(size):
        made.append(size)
        return len(made), mmap.mmap(-1, size)

    return ClientArenas(new_arena), made


def test_places_never_overlap_and_come_back():
    pool, made = arenas()
    rng = random.Random(7)
    live = {}
    for step in range(20000):
        if live and (rng.random() < 0.5 or len(live) > 300):
            key = rng.choice(list(live))
            arena, offset, size = live.pop(key)
            pool.release(arena, offset, size)
        else:
            size = rng.choice([4, 12, 64, 100, 1000, 4096, 65536])
            arena, offset, _ = pool.carve(size)
            assert offset % GRAIN == 0
            live[step] = (arena, offset, size)
        spans = sorted((a, o, o + max(GRAIN, -(-s // GRAIN) * GRAIN)) for a, o, s in live.values())
        for (a1, _, end1), (a2, start2, _) in zip(spans, spans[1:]):
            assert a1 != a2 or end1 <= start2, (spans, step)
    for arena, offset, size in live.values():
        pool.release(arena, offset, size)
    for arena in pool._arenas:
        assert arena.top == 0 and arena.free == []
    assert made[0] == FIRST_ARENA and len(made) <= 3


def test_arenas_grow_by_doubling():
    pool, made = arenas()
    for _ in range(3 * FIRST_ARENA // 65536 + 1):
        pool.carve(65536)
    assert made == [FIRST_ARENA, 2 * FIRST_ARENA, 4 * FIRST_ARENA]
