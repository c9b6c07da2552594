"""kp: Kompute's Python API with the GPU in the kpd daemon.

    import kp
    mgr = kp.Manager()                      # connects to kpd ($KP_ADDRESS or the local socket)
    a = mgr.tensor([2, 2, 2]); b = mgr.tensor([1, 2, 3]); c = mgr.tensor([0, 0, 0])
    mgr.sequence().record(kp.OpTensorSyncDevice([a, b])) \\
        .record(kp.OpMult([a, b, c], mgr.algorithm())) \\
        .record(kp.OpTensorSyncLocal([c])).eval()
    print(c.data())                         # [2. 4. 6.]

Both of Kompute's Python API generations are supported: v0.8/0.9 (mgr.tensor, mgr.algorithm,
mgr.sequence().record(kp.Op...)) and v0.5/0.6 (kp.Tensor, mgr.build_tensor,
mgr.create_sequence(name), seq.begin/record_*/end, mgr.eval_*).

The package's modules hold the v0.8/0.9 core (kp.manager, kp.tensor, kp.algorithm,
kp.sequence, kp.operations); kp.legacy extends it with the v0.5/0.6 API as subclasses. This
file composes the two: kp.Manager, kp.Sequence and kp.Tensor are the classes of kp.legacy, so
that one Manager serves programs of either era.
"""
from ._errors import (
    DeadlineExceededError,
    DeviceLostError,
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    KpError,
    NotFoundError,
    ResourceExhaustedError,
    UnauthenticatedError,
    PermissionDeniedError,
    UnavailableError,
)
from ._log import log_level
from ._types import TensorDataTypes, TensorTypes
from ._version import __version__
from .algorithm import Algorithm
from .legacy import LegacyManager as Manager
from .legacy import LegacySequence as Sequence
from .legacy import LegacyTensor as Tensor
from .legacy import OpTensorCreate
from .operations import (
    OpAlgoDispatch,
    OpBase,
    OpMemoryBarrier,
    OpMult,
    OpTensorCopy,
    OpTensorSyncDevice,
    OpTensorSyncLocal,
)
from .shader import Shader

# Kompute exports the TensorTypes values at module level too (pybind11's export_values):
# kp.device, kp.host, kp.storage, and v0.5/0.6's kp.staging (the same as kp.host).
device = TensorTypes.device
host = TensorTypes.host
staging = TensorTypes.staging
storage = TensorTypes.storage

__all__ = [
    "Algorithm",
    "DeadlineExceededError",
    "DeviceLostError",
    "FailedPreconditionError",
    "InternalError",
    "InvalidArgumentError",
    "KpError",
    "Manager",
    "NotFoundError",
    "OpAlgoDispatch",
    "OpBase",
    "OpMemoryBarrier",
    "OpMult",
    "OpTensorCopy",
    "OpTensorCreate",
    "OpTensorSyncDevice",
    "OpTensorSyncLocal",
    "ResourceExhaustedError",
    "Sequence",
    "Shader",
    "Tensor",
    "TensorDataTypes",
    "TensorTypes",
    "UnauthenticatedError",
    "PermissionDeniedError",
    "UnavailableError",
    "__version__",
    "device",
    "host",
    "log_level",
    "staging",
    "storage",
]
