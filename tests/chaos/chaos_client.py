"""A chaos client: computes known results through kpd and reports them, one line each, for
test_chaos.py to check. Run as: chaos_client.py ADDRESS SEED ROUNDS.

stdout lines (flushed one by one, so that the parent can kill the client mid-call):
  phase upload|eval|await    the next call is about to start (the parent may SIGKILL now)
  verified KIND SEED DIGEST  a result was computed; DIGEST is the sha1 of its bytes (the
                             parent recomputes it from KIND and SEED)
  ended REASON               the session ended under it (device reset, daemon restart); the
                             client reconnects
  oom                        an allocation failed (RESOURCE_EXHAUSTED): the round is skipped
  gone                       the daemon could not be reached again: the client stops
  done                       all rounds computed
  wrong KIND SEED            a result differed from what was expected (exit code 3)
Any other exception ends the client with exit code 2 and its traceback on stderr.
"""
import faulthandler
import hashlib
import random
import signal
import sys
import time

import numpy as np

import kp

SMALL = 256
BIG = 2 * 1024 * 1024  # 8 MiB of float32: streamed or shared, takes a while to upload

MULTIPLY = """
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) readonly buffer Lhs { float lhs[]; };
layout(set = 0, binding = 1) readonly buffer Rhs { float rhs[]; };
layout(set = 0, binding = 2) writeonly buffer Out { float result[]; };
void main() {
    uint i = gl_GlobalInvocationID.x;
    result[i] = lhs[i] * rhs[i];
}
"""

# A little busy work before the multiply of an async round, so that awaiting takes a moment.
BUSY = """
#version 450
layout(local_size_x = 64) in;
layout(set = 0, binding = 0) buffer A { uint a[]; };
void main() {
    uint x = gl_GlobalInvocationID.x;
    for (uint i = 0; i < 20000u; ++i) { x = x * 1664525u + 1013904223u + (x >> 13); }
    atomicAdd(a[0], x & 1u);
}
"""


def expected(kind: str, seed: int) -> np.ndarray:
    """What a round of `kind` with `seed` computes (test_chaos.py recomputes it too)."""
    if kind in ("multiply", "async"):
        lhs, rhs = operands(seed)
        return lhs * rhs
    if kind == "big":
        return np.random.default_rng(seed).random(BIG, dtype=np.float32)
    raise ValueError(kind)


def operands(seed: int):
    """The inputs of a multiply: small integers, exact in float32."""
    lhs = np.arange(SMALL, dtype=np.float32) + np.float32(seed % 1009)
    rhs = np.full(SMALL, seed % 7 + 1, dtype=np.float32)
    return lhs, rhs


def digest(values: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(values, dtype=np.float32).tobytes()).hexdigest()


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Client:
    def __init__(self, mgr: kp.Manager):
        self.mgr = mgr
        self.lhs = mgr.tensor(np.zeros(SMALL))
        self.rhs = mgr.tensor(np.zeros(SMALL))
        self.out = mgr.tensor(np.zeros(SMALL))
        self.busy = mgr.tensor_t(np.zeros(1, dtype=np.uint32))
        multiply = mgr.algorithm([self.lhs, self.rhs, self.out], MULTIPLY)
        busy = mgr.algorithm([self.busy], BUSY, (16, 1, 1))
        self.multiply = (mgr.sequence()
                         .record(kp.OpTensorSyncDevice([self.lhs, self.rhs]))
                         .record(kp.OpAlgoDispatch(multiply))
                         .record(kp.OpTensorSyncLocal([self.out])))
        self.async_seq = (mgr.sequence()
                          .record(kp.OpTensorSyncDevice([self.lhs, self.rhs]))
                          .record(kp.OpAlgoDispatch(busy))
                          .record(kp.OpAlgoDispatch(multiply))
                          .record(kp.OpTensorSyncLocal([self.out])))

    def round(self, kind: str, seed: int) -> np.ndarray:
        if kind in ("multiply", "async"):
            self.lhs.data()[:], self.rhs.data()[:] = operands(seed)
            self.out.data()[:] = 0
            if kind == "multiply":
                say("phase eval")
                self.multiply.eval()
            else:
                self.async_seq.eval_async()
                say("phase await")
                self.async_seq.eval_await()
            return self.out.data().copy()
        source = self.mgr.tensor(expected("big", seed))  # created with its data: an upload
        target = self.mgr.tensor(np.zeros(BIG))
        try:
            say("phase upload")
            seq = self.mgr.sequence()
            seq.eval(kp.OpTensorSyncDevice([source]))
            say("phase eval")
            seq.eval(kp.OpTensorCopy([source, target]))
            seq.eval(kp.OpTensorSyncLocal([target]))
            seq.destroy()
            return target.data().copy()
        finally:
            source.destroy()
            target.destroy()


def connect(address: str, rng: random.Random, patience_s: float) -> kp.Manager:
    """A new session, retrying while the daemon restarts; UnavailableError if it stays away."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            return kp.Manager(address=address, shared_memory=rng.random() < 0.5)
        except kp.UnavailableError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def main() -> int:
    address, seed, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(seed)
    done = 0
    mgr = None
    client = None
    sessions = 0
    while done < rounds:
        connecting = client is None
        if connecting:
            sessions += 1
            if sessions > 20:
                say("gone")  # the daemon keeps ending our sessions at once: give up
                return 0
        try:
            if client is None:
                if mgr is not None:
                    mgr.destroy()
                mgr = connect(address, rng, 3.0)
                client = Client(mgr)
                connecting = False
            kind = rng.choice(["multiply", "multiply", "async", "big"])
            round_seed = rng.randrange(1, 1 << 30)
            result = client.round(kind, round_seed)
            if not np.array_equal(result, expected(kind, round_seed)):
                say(f"wrong {kind} {round_seed}")
                return 3
            say(f"verified {kind} {round_seed} {digest(result)}")
            done += 1
        except kp.ResourceExhaustedError:
            say("oom")  # an injected allocation failure: skip the round
            done += 1
        except (kp.DeviceLostError, kp.NotFoundError, kp.UnavailableError) as error:
            if connecting and isinstance(error, kp.UnavailableError) and not isinstance(
                error, kp.DeviceLostError
            ):
                say("gone")
                return 0
            say(f"ended {type(error).__name__}: {str(error)[:300]}")
            client = None
    if mgr is not None:
        mgr.destroy()
    say("done")
    return 0


if __name__ == "__main__":
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # test_chaos.py asks on a hang
    sys.exit(main())
