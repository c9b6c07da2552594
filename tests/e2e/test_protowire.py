"""kp._protowire: what the client encodes by hand is what protobuf itself encodes (no daemon)."""
import random

import pytest

from kp import _protowire
from kp.v1 import compute_pb2, types_pb2

CLIENT_BIT = 1 << 63


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**32, 2**63, 2**64 - 1])
def test_varint(value):
    message = compute_pb2.CreateTensorRequest(size=value)
    assert _protowire.tag(4, 0) + _protowire.varint(value) == (
        message.SerializeToString() if value else _protowire.tag(4, 0) + b"\x00")


def test_create_tensor_actions_match_protobuf():
    rng = random.Random(3)
    for _ in range(500):
        place = rng.choice([None, (0, 0), (1, 64), (rng.randrange(1, 300), rng.randrange(2**40))])
        fields = dict(
            data_type=rng.choice([0, types_pb2.DATA_TYPE_FLOAT32, types_pb2.DATA_TYPE_FLOAT64]),
            tensor_type=rng.choice([0, types_pb2.TENSOR_TYPE_DEVICE, types_pb2.TENSOR_TYPE_STORAGE]),
            size=rng.choice([0, 1, 3, 200, 2**33]),
            handle=rng.choice([0, CLIENT_BIT | rng.getrandbits(63)]),
            data=bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 12, 300]))),
        )
        mine = _protowire.create_tensor_action(**fields, place=place)
        request = compute_pb2.CreateTensorRequest(**fields)
        if place is not None:
            request.region.SetInParent()
            request.region.arena, request.region.offset = place
        expected = compute_pb2.Action(create_tensor=request)
        assert compute_pb2.Action.FromString(mine) == expected
        assert mine == expected.SerializeToString(deterministic=True)


def test_apply_requests_match_protobuf():
    actions = [compute_pb2.Action(create_tensor=compute_pb2.CreateTensorRequest(size=n))
               for n in range(1, 4)]
    actions.append(compute_pb2.Action(destroy_tensor=compute_pb2.DestroyTensorRequest(tensor=9)))
    for session in ("", "3e7285fd60c3d8155aeacf9cb517d726"):
        mine = _protowire.apply_request(session, [a.SerializeToString() for a in actions])
        assert mine == compute_pb2.ApplyRequest(session=session, actions=actions).SerializeToString()
