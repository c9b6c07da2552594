"""kp.Shader: Kompute v0.9's GLSL-to-SPIR-V helper, compiled by kpd (its kpd-compile worker),
so the client needs no glslang of its own."""
from __future__ import annotations

from typing import Optional

import grpc

from ._address import resolve_address
from ._errors import from_rpc_error
from ._security import Security
from .v1 import compute_pb2, compute_pb2_grpc

# A compile may wait for a free worker and then take up to kpd's --compile-timeout-ms.
_COMPILE_TIMEOUT_S = 120.0


class Shader:
    """Kompute's ``kp.Shader``: ``kp.Shader.compile_source(glsl)`` returns SPIR-V bytes for
    ``mgr.algorithm(tensors, spirv)``."""

    @staticmethod
    def compile_source(
        source: str,
        address: Optional[str] = None,
        token: Optional[str] = None,
        tls_ca: Optional[str] = None,
        tls_cert: Optional[str] = None,
        tls_key: Optional[str] = None,
    ) -> bytes:
        """Compiles GLSL compute shader `source` to SPIR-V (bytes), as Kompute's
        ``Shader.compile_source`` does with its built-in glslang; here kpd compiles it. The
        daemon is found as ``kp.Manager`` finds it (`address`, else ``$KP_ADDRESS``, else the
        local socket; `token` and TLS likewise). Raises ``kp.InvalidArgumentError`` with the
        compiler's messages for a source that does not compile."""
        if not isinstance(source, str):
            raise TypeError(f"source: a GLSL string, not {type(source).__name__}")
        resolved = resolve_address(address)
        security = Security(resolved, token, tls_ca, tls_cert, tls_key)
        channel = security.channel([])
        try:
            reply = compute_pb2_grpc.ComputeStub(channel).CompileShader(
                compute_pb2.CompileShaderRequest(glsl=source, name="shader"),
                metadata=security.metadata, timeout=_COMPILE_TIMEOUT_S)
        except grpc.RpcError as error:
            raise from_rpc_error(error, resolved) from None
        finally:
            channel.close()
        return reply.spirv
