"""kp.Tensor of the v0.5/0.6 API: made in this process first, created on the GPU later."""
from __future__ import annotations

import abc
from typing import Any, List

import numpy as np

from ..tensor import Tensor
from .._types import TensorTypes


class LegacyTensor(Tensor, metaclass=abc.ABCMeta):
    """A tensor: GPU memory in the daemon plus a host copy (a numpy array) in this process.

    The host copy is what ``OpTensorSyncDevice`` uploads and where ``OpTensorSyncLocal``
    downloads to; both travel inside the evaluation's single round trip.

    Two ways to make one, as in Kompute's two API generations:

    * v0.8/0.9: ``mgr.tensor(data)`` / ``mgr.tensor_t(array)``. ``data()`` returns a writable
      numpy array that *is* the host copy: write to it, and the next sync-device uploads it.
    * v0.5/0.6: ``kp.Tensor(data, tensor_type)`` makes a float32 tensor that exists only in
      this process until ``mgr.build_tensor``/``eval_tensor_create*`` creates it. Its
      ``data()`` returns a list copy, and ``t[i]``/``t[i] = v``/``set_data`` edit the host copy.

    ``kp.Tensor`` is this class, the v0.5/0.6 kind; a tensor of the v0.8/0.9 kind (the core
    ``kp.tensor.Tensor``) counts as a ``kp.Tensor`` too (``isinstance``), as in Kompute.
    """

    # Kompute v0.5/0.6 kept a tensor's data (mData) apart from the GPU's host-visible memory,
    # and map_data_from_host/into_host copied between them: so does this host copy and kpd's,
    # on every transport (in shared memory the two would be one).
    _host_copy_in_shared_memory = False

    _not_created_hint = (
        "the tensor was not created on the GPU yet "
        "(use mgr.tensor, mgr.build_tensor or an eval_tensor_create op)"
    )

    def __init__(self, data: Any = None, tensor_type: TensorTypes = TensorTypes.device):
        """A v0.5/0.6 tensor: float32, flattened, not created on the GPU yet."""
        super().__init__(
            np.array([] if data is None else data, dtype=np.float32).ravel(), tensor_type
        )

    @classmethod
    def __subclasshook__(cls, subclass: type) -> Any:
        # kp.Tensor names this class (for its constructor): tensors from mgr.tensor and
        # mgr.tensor_t are kp.Tensor instances too, as they were before the API was split.
        if cls is LegacyTensor and issubclass(subclass, Tensor):
            return True
        return NotImplemented

    def data(self) -> List[Any]:
        """The host copy as a list (a copy), as Kompute v0.5/0.6 returned it. (Tensors from
        ``mgr.tensor`` return a writable numpy array viewing the host copy instead.)"""
        return self._array.tolist()

    def numpy(self) -> np.ndarray:
        """The host copy as a numpy array (a copy; tensors from ``mgr.tensor`` return a
        view)."""
        return self._array.copy()
