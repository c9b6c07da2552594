"""kp.Algorithm: a compute shader bound to tensors, held by kpd."""
from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

from ._constants import as_constants_array, constants_proto
from ._pipeline import Pending
from ._remote import RemoteObject
from ._session import Session
from .tensor import Tensor
from .v1 import compute_pb2, types_pb2

SPIRV_MAGIC = 0x07230203


def is_spirv(data: bytes) -> bool:
    """True when `data` starts with the SPIR-V magic number."""
    return len(data) >= 4 and int.from_bytes(data[:4], "little") == SPIRV_MAGIC


def shader_fields(shader: Any, what: str = "spirv") -> dict:
    """The CreateAlgorithmRequest shader field for SPIR-V bytes or GLSL text.

    bytes that start with the SPIR-V magic number are SPIR-V; other bytes and str are GLSL
    source, compiled by the daemon.
    """
    if isinstance(shader, str):
        return {"glsl": shader}
    if isinstance(shader, (bytes, bytearray, memoryview)):
        data = bytes(shader)
        if is_spirv(data):
            return {"spirv": data}
        try:
            return {"glsl": data.decode("utf-8")}
        except UnicodeDecodeError:
            return {"spirv": data}  # let the daemon's validator say what is wrong
    raise TypeError(f"{what}: expected SPIR-V bytes or GLSL str, got {type(shader).__name__}")


def workgroup_proto(
    workgroup: Optional[Sequence[int]], what: str = "workgroup"
) -> types_pb2.Workgroup:
    if workgroup is None:
        return types_pb2.Workgroup()
    values = list(workgroup)
    if len(values) > 3 or any(int(v) < 0 for v in values):
        raise ValueError(f"{what}: expected up to 3 non-negative counts, got {workgroup!r}")
    values += [0] * (3 - len(values))
    return types_pb2.Workgroup(x=int(values[0]), y=int(values[1]), z=int(values[2]))


def _shader_kind(request: compute_pb2.CreateAlgorithmRequest) -> str:
    if request.HasField("glsl"):
        return "GLSL"
    return f"{len(request.spirv)} bytes of SPIR-V"


class Algorithm(RemoteObject):
    """A compute pipeline in the daemon: SPIR-V (or GLSL), tensors bound in order at set 0,
    a workgroup count, specialisation constants and default push constants.

    Made by ``mgr.algorithm(...)``, which documents the arguments.
    """

    _kind = "algorithm"
    _destroy_rpc = "DestroyAlgorithm"
    _not_created_hint = "the algorithm is empty (create it with tensors and a shader)"

    def __init__(
        self,
        session: Session,
        tensors: List[Tensor],
        spirv: Any,
        workgroup: Optional[Sequence[int]],
        spec_consts: Any,
        push_consts: Any,
    ):
        self._session: Optional[Session] = session
        self._tensors = list(tensors)
        self._destroyed = False
        self._handle = 0
        self._push_size = as_constants_array(push_consts, "push_consts").nbytes
        # The push constants the next OpAlgoDispatch without its own pushes, when an earlier
        # dispatch's override replaced those of creation (Kompute's record() keeps them).
        self._record_push: Optional[types_pb2.Constants] = None
        if not self._tensors and not spirv:
            # An empty algorithm, as Kompute's mgr.algorithm(): OpMult fills in its own.
            self._workgroup: Tuple[int, int, int] = (0, 0, 0)
            return
        request = compute_pb2.CreateAlgorithmRequest(
            session=session.session,
            tensors=[t._require_handle(f"tensors[{i}]") for i, t in enumerate(self._tensors)],
            workgroup=workgroup_proto(workgroup),
            spec_constants=constants_proto(spec_consts, "spec_consts"),
            push_constants=constants_proto(push_consts, "push_consts"),
            **shader_fields(spirv),
        )
        # GLSL is compiled at once: its compile takes far longer than a round trip, and its
        # errors (line numbers) are best seen where the source was given.
        if session.pipeline is None or request.HasField("glsl"):
            response = session.call("CreateAlgorithm", request)
            self._handle = response.algorithm
            self._workgroup = (response.workgroup.x, response.workgroup.y, response.workgroup.z)
            return
        # Pipelined (kp._pipeline): the daemon applies these same defaults.
        self._handle = request.handle = session.pipeline.new_handle()
        wanted = request.workgroup
        first = self._tensors[0].size() if self._tensors else 0
        self._workgroup = (wanted.x or first, wanted.y or 1, wanted.z or 1)
        session.defer(Pending(
            self,
            lambda: compute_pb2.Action(create_algorithm=request).SerializeToString(),
            lambda: f"kp.Manager.algorithm({len(self._tensors)} tensors, {_shader_kind(request)})",
        ))

    def get_tensors(self) -> List[Tensor]:
        """The tensors the algorithm binds, in binding order."""
        return list(self._tensors)

    def get_workgroup(self) -> Tuple[int, int, int]:
        """The workgroup dispatched (defaults applied)."""
        return self._workgroup

    def _destroy_request(self, session: str) -> compute_pb2.DestroyAlgorithmRequest:
        return compute_pb2.DestroyAlgorithmRequest(session=session, algorithm=self._handle)
