"""kp.Shader: Kompute's GLSL-to-SPIR-V helper (v0.7's ``kp.Shader.compile_source`` and
``compile_sources``, which v0.9's examples still call), compiled by kpd (its kpd-compile
worker), so the client needs no glslang of its own."""
from __future__ import annotations

import os

import re
from typing import Iterable, Optional, Sequence, Tuple

import grpc

from ._address import ENV_ADDRESS, resolve_address
from ._discovery import connect_default
from ._errors import InvalidArgumentError, from_rpc_error
from ._security import Security
from .v1 import compute_pb2, compute_pb2_grpc

# A compile may wait for a free worker and then take up to kpd's --compile-timeout-ms.
_COMPILE_TIMEOUT_S = 120.0

_VERSION_LINE = re.compile(r"^[ \t]*#[ \t]*version[^\n]*\n?", re.MULTILINE)


def _with_definitions(source: str, definitions: Iterable[Tuple[str, str]]) -> str:
    """`source` with a #define line per (name, value), after its #version line if it has one
    (GLSL wants #version first), as Kompute's preamble did."""
    defines = "".join(f"#define {name} {value}\n" for name, value in definitions)
    if not defines:
        return source
    version = _VERSION_LINE.search(source)
    if version is None:
        return defines + source
    line = version.group(0) if version.group(0).endswith("\n") else version.group(0) + "\n"
    return source[:version.start()] + line + defines + source[version.end():]


class Shader:
    """Kompute's ``kp.Shader``: ``kp.Shader.compile_source(glsl)`` returns SPIR-V bytes for
    ``mgr.algorithm(tensors, spirv)``. The daemon is found as ``kp.Manager`` finds it
    (`address`, else ``$KP_ADDRESS``, else the local socket; `token` and TLS likewise)."""

    @staticmethod
    def compile_source(
        source: str,
        entryPoint: str = "main",  # noqa: N803 (Kompute's keyword)
        definitions: Sequence[Tuple[str, str]] = (),
        *,
        address: Optional[str] = None,
        token: Optional[str] = None,
        tls_ca: Optional[str] = None,
        tls_cert: Optional[str] = None,
        tls_key: Optional[str] = None,
    ) -> bytes:
        """Compiles GLSL compute shader `source` to SPIR-V (bytes), with a ``#define`` for
        each (name, value) of `definitions`. kpd runs entry point ``main`` only. Raises
        ``kp.InvalidArgumentError`` with the compiler's messages for a source that does not
        compile."""
        if not isinstance(source, str):
            raise TypeError(f"source: a GLSL string, not {type(source).__name__}")
        if entryPoint != "main":
            raise InvalidArgumentError(
                f"entryPoint: {entryPoint!r}; kpd runs a shader's 'main' only (rename it)")
        glsl = _with_definitions(source, definitions)

        def compile_at(target: str) -> bytes:
            security = Security(target, token, tls_ca, tls_cert, tls_key)
            channel = security.channel([])
            try:
                reply = compute_pb2_grpc.ComputeStub(channel).CompileShader(
                    compute_pb2.CompileShaderRequest(glsl=glsl, name="shader"),
                    metadata=security.metadata, timeout=_COMPILE_TIMEOUT_S)
            except grpc.RpcError as error:
                raise from_rpc_error(error, target) from None
            finally:
                channel.close()
            return reply.spirv

        if address is None and not os.environ.get(ENV_ADDRESS):
            return connect_default(compile_at)  # as kp.Manager() finds kpd
        return compile_at(resolve_address(address))

    @staticmethod
    def compile_sources(
        sources: Sequence[str],
        files: Sequence[str] = (),
        entryPoint: str = "main",  # noqa: N803 (Kompute's keyword)
        definitions: Sequence[Tuple[str, str]] = (),
        **connection: Optional[str],
    ) -> bytes:
        """Compiles several GLSL strings as one shader (joined in order, as glslang joins
        them); `files` named them in Kompute's error messages and are not needed here."""
        if isinstance(sources, str) or not all(isinstance(s, str) for s in sources):
            raise TypeError("sources: a list of GLSL strings")
        return Shader.compile_source("\n".join(sources), entryPoint, definitions, **connection)
