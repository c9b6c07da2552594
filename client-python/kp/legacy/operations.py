"""The ops of Kompute's v0.5/0.6 API: OpTensorCreate, and shader dispatches whose op owns its
algorithm (OpAlgoBase, given the shader as SPIR-V, GLSL text or a file; OpAlgoLhsRhsOut)."""
from __future__ import annotations

from typing import Any, List, Optional, Sequence

import numpy as np

from .._errors import FailedPreconditionError, InvalidArgumentError
from .._session import Session
from ..algorithm import Algorithm, is_spirv
from ..operations import OpBase, _tensor_list
from ..tensor import Tensor
from ..v1 import types_pb2

# A workgroup of zeros: the daemon's default, (size of tensors[0], 1, 1).
DEFAULT_WORKGROUP = (0, 0, 0)


class OpTensorCreate(OpBase):
    """Creates tensors made with ``kp.Tensor(data)`` in the daemon, with their host data."""

    def __init__(self, tensors: List[Tensor]):
        self.tensors = _tensor_list(tensors, "OpTensorCreate")

    def _prepare(self, session: Session) -> None:
        for i, tensor in enumerate(self.tensors):
            if tensor._handle:
                raise FailedPreconditionError(
                    f"OpTensorCreate: tensors[{i}] was already created on the GPU"
                )
        for tensor in self.tensors:
            tensor._create(session)

    def _protos(self, session: Session) -> List[types_pb2.Op]:
        return []

    def _tensors(self) -> List[Tensor]:
        return self.tensors


def read_shader_file(path: str) -> Any:
    """A shader file's contents: bytes for SPIR-V (.spv or binary), text for GLSL."""
    with open(path, "rb") as f:
        data = f.read()
    return data if is_spirv(data) else data.decode("utf-8")


class OpAlgoBase(OpBase):
    """A dispatch of a shader over tensors, v0.5/0.6 style: specialisation constant i is the
    size of tensor i, and the default workgroup is (size of tensors[0], 1, 1). The op owns its
    algorithm, created in the daemon at the first evaluation and freed with the op.

    `what` names the op in error messages.
    """

    def __init__(
        self,
        tensors: List[Tensor],
        shader: Any,
        work_group: Optional[Sequence[int]] = DEFAULT_WORKGROUP,
        what: str = "OpAlgoBase",
    ):
        self.tensors = _tensor_list(tensors, what)
        if not self.tensors:
            raise InvalidArgumentError(f"{what}: needs at least one tensor")
        self.shader = shader
        self.work_group = tuple(work_group) if work_group is not None else DEFAULT_WORKGROUP
        self.what = what
        self._algorithm: Optional[Algorithm] = None

    @classmethod
    def from_file(
        cls, tensors: List[Tensor], file_path: str, work_group: Sequence[int] = DEFAULT_WORKGROUP
    ) -> "OpAlgoBase":
        """The shader read from a file (.spv SPIR-V or GLSL source)."""
        return cls(tensors, read_shader_file(file_path), work_group, "OpAlgoBase(file)")

    @classmethod
    def from_data(
        cls, tensors: List[Tensor], data: Any, work_group: Sequence[int] = DEFAULT_WORKGROUP
    ) -> "OpAlgoBase":
        """The shader given as SPIR-V bytes (or GLSL source as bytes or str)."""
        return cls(tensors, data, work_group, "OpAlgoBase(data)")

    @classmethod
    def from_str(
        cls, tensors: List[Tensor], shader: Any, work_group: Sequence[int] = DEFAULT_WORKGROUP
    ) -> "OpAlgoBase":
        """The shader given as GLSL source (a str, or as v0.5 passed it, a list of characters),
        compiled by the daemon."""
        if isinstance(shader, (list, tuple)):
            shader = "".join(shader)
        return cls(tensors, shader, work_group, "OpAlgoBase(str)")

    def _dispatch(self, session: Session) -> types_pb2.Op:
        if self._algorithm is None or not self._algorithm.is_init():
            sizes = np.array([t.size() for t in self.tensors], dtype=np.uint32)
            self._algorithm = Algorithm(
                session, self.tensors, self.shader, self.work_group, sizes, None
            )
        dispatch = types_pb2.OpAlgoDispatch(algorithm=self._algorithm._handle)
        return types_pb2.Op(algo_dispatch=dispatch)

    def _protos(self, session: Session) -> List[types_pb2.Op]:
        return [self._dispatch(session)]

    def _tensors(self) -> List[Tensor]:
        return self.tensors

    def _release(self) -> None:
        if self._algorithm is not None:
            self._algorithm.destroy()
            self._algorithm = None


class OpAlgoLhsRhsOut(OpAlgoBase):
    """Kompute's OpAlgoLhsRhsOut: a shader over (lhs, rhs, out) of one size whose output is
    downloaded into `out`'s host copy in the same evaluation (no separate sync-local)."""

    def __init__(self, tensors: List[Tensor], shader: Any = None):
        super().__init__(tensors, shader, DEFAULT_WORKGROUP, "OpAlgoLhsRhsOut")
        if len(self.tensors) != 3:
            raise InvalidArgumentError(
                f"OpAlgoLhsRhsOut: needs 3 tensors (lhs, rhs, out), got {len(self.tensors)}"
            )
        if len({t.size() for t in self.tensors}) != 1:
            raise InvalidArgumentError("OpAlgoLhsRhsOut: lhs, rhs and out must have one size")
        if shader is None:
            raise InvalidArgumentError("OpAlgoLhsRhsOut: a shader (SPIR-V or GLSL) is required")

    def _protos(self, session: Session) -> List[types_pb2.Op]:
        out = self.tensors[2]._require_handle("OpAlgoLhsRhsOut.tensors[2]")
        return [
            self._dispatch(session),
            types_pb2.Op(tensor_sync_local=types_pb2.OpTensorSyncLocal(tensors=[out])),
        ]
