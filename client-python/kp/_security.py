"""How the client proves itself to kpd and checks kpd: TLS and the bearer token.

* TLS is used for ``tls:host:port`` addresses, and for ``host:port`` ones when a CA or a
  client certificate is given (argument or environment). The CA (``tls_ca`` / $KP_TLS_CA)
  checks kpd's certificate (default: the system's CAs); ``tls_cert`` + ``tls_key``
  ($KP_TLS_CERT, $KP_TLS_KEY) are the client's certificate for daemons that require one (mTLS).
  Each may be a file path or the PEM bytes themselves.
* The token (``token`` / $KP_TOKEN, or the first line of the file $KP_TOKEN_FILE) goes with
  every call as the metadata ``authorization: Bearer <token>``, on any kind of address.

kpd's Unix sockets have no TLS (file permissions protect them): TLS settings from the
environment are ignored for them, and passing them as arguments is an error.
"""
from __future__ import annotations

import os
from typing import List, Optional, Tuple, Union

import grpc

ENV_TOKEN = "KP_TOKEN"
ENV_TOKEN_FILE = "KP_TOKEN_FILE"
ENV_TLS_CA = "KP_TLS_CA"
ENV_TLS_CERT = "KP_TLS_CERT"
ENV_TLS_KEY = "KP_TLS_KEY"

TLS_PREFIX = "tls:"

PemSource = Union[str, bytes, "os.PathLike[str]", None]


def _read_pem(what: str, source: PemSource) -> Optional[bytes]:
    """PEM bytes given as such or as a file path."""
    if source is None:
        return None
    if isinstance(source, bytes):
        return source
    path = os.fspath(source)
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as error:
        raise ValueError(f"{what}: cannot read {path}: {error.strerror}") from None


def _token_from_environment() -> Optional[str]:
    token = os.environ.get(ENV_TOKEN)
    if token:
        return token.strip()
    path = os.environ.get(ENV_TOKEN_FILE)
    if path:
        try:
            with open(path) as f:
                return f.read().strip() or None
        except OSError as error:
            raise ValueError(f"${ENV_TOKEN_FILE}: cannot read {path}: {error.strerror}") from None
    return None


class Security:
    """The channel credentials and call metadata of one Manager."""

    def __init__(
        self,
        address: str,
        token: Optional[str] = None,
        tls_ca: PemSource = None,
        tls_cert: PemSource = None,
        tls_key: PemSource = None,
    ):
        self.token = token if token is not None else _token_from_environment()
        if self.token is not None:
            self.token = self.token.strip()
            if not self.token or any(c.isspace() for c in self.token):
                raise ValueError("token: must be one non-empty word (no spaces or newlines)")
        unix = address.startswith("unix:")
        explicit_tls = address.startswith(TLS_PREFIX)
        given = any(v is not None for v in (tls_ca, tls_cert, tls_key))
        if unix and given:
            raise ValueError(
                f"tls_ca / tls_cert / tls_key: {address} is a Unix socket, which kpd serves "
                "without TLS (file permissions protect it)"
            )
        if not unix and not given:
            tls_ca = os.environ.get(ENV_TLS_CA) or None
            tls_cert = os.environ.get(ENV_TLS_CERT) or None
            tls_key = os.environ.get(ENV_TLS_KEY) or None
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("tls_cert and tls_key: give both (the client certificate and its key)")
        self.target = address[len(TLS_PREFIX):] if explicit_tls else address
        self.tls = not unix and (explicit_tls or any(v is not None for v in (tls_ca, tls_cert)))
        self._root = _read_pem("tls_ca", tls_ca)
        self._key = _read_pem("tls_key", tls_key)
        self._chain = _read_pem("tls_cert", tls_cert)
        self.metadata: Tuple[Tuple[str, str], ...] = (
            (("authorization", f"Bearer {self.token}"),) if self.token else ()
        )

    def channel(self, options: List[Tuple[str, object]]) -> grpc.Channel:
        if not self.tls:
            return grpc.insecure_channel(self.target, options=options)
        credentials = grpc.ssl_channel_credentials(
            root_certificates=self._root, private_key=self._key, certificate_chain=self._chain
        )
        return grpc.secure_channel(self.target, credentials, options=options)

    def explain(self, details: str) -> str:
        """A hint for a failure to connect, when TLS is the likely cause."""
        lowered = (details or "").lower()
        if self.tls and any(w in lowered for w in ("ssl", "handshake", "certificate", "tsi")):
            return (
                " (the TLS handshake failed: is tls_ca the CA that signed kpd's certificate, "
                "is the address a name or IP the certificate holds, and does kpd require a "
                "client certificate (tls_cert, tls_key)?)"
            )
        if self.tls and "socket closed" in lowered:
            return (
                " (kpd closed the TLS connection: does it require a client certificate "
                "(tls_cert, tls_key) signed by its --tls-client-ca?)"
            )
        if not self.tls and "socket closed" in lowered and not self.target.startswith("unix:"):
            return " (does kpd serve TLS on this port? then use a tls: address or tls_ca)"
        return ""
