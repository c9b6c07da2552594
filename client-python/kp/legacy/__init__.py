"""Kompute's v0.5/0.6 Python API, as subclasses of the v0.8/0.9 core (kp.manager, kp.sequence,
kp.tensor, kp.operations):

* ``LegacyManager(Manager)``: ``build_tensor``, named sequences (``create_sequence``,
  ``get_create_sequence``) and the ``eval_*`` family (``eval_<op>``, ``eval_<op>_def``,
  ``eval_async_<op>``, ``eval_async_<op>_def``, ``eval_await``, ``eval_await_def``);
* ``LegacySequence(Sequence)``: ``begin()`` / ``record_<op>(...)`` / ``end()``, and
  ``ManagedSequence``, whose evaluations report True or False;
* ``LegacyTensor(Tensor)``: ``kp.Tensor(data)``, made in this process and created later;
* the ops of that era: ``OpTensorCreate``, ``OpAlgoBase``, ``OpAlgoLhsRhsOut``.

The core never imports this package; ``kp`` exports these classes under Kompute's names
(``kp.Manager`` is ``LegacyManager``), so programs of either era run unchanged.
"""
from .manager import LegacyManager
from .operations import OpAlgoBase, OpAlgoLhsRhsOut, OpTensorCreate, read_shader_file
from .sequence import LegacySequence, ManagedSequence
from .tensor import LegacyTensor

__all__ = [
    "LegacyManager",
    "LegacySequence",
    "LegacyTensor",
    "ManagedSequence",
    "OpAlgoBase",
    "OpAlgoLhsRhsOut",
    "OpTensorCreate",
    "read_shader_file",
]
