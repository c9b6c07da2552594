"""Access control: TLS and mTLS on TCP (certificates made by openssl here), the bearer token,
the loopback-only rule for plain TCP, and the Unix socket's permissions and peer uid."""
import grp
import os
import re
import shutil
import socket
import stat
import subprocess
import sys

import grpc
import pytest

import kp
from conftest import Daemon, run_kpd
from kp.v1 import compute_pb2, compute_pb2_grpc

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")

TOKEN = "s3cret-token-for-tests"


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _ca(folder, name):
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
             "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)


def _leaf(folder, name, ca, extensions):
    with open(os.path.join(folder, f"{name}.ext"), "w") as f:
        f.write(extensions)
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=folder)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-out", f"{name}.pem", "-days", "2",
             "-extfile", f"{name}.ext", cwd=folder)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, a server certificate for localhost / 127.0.0.1, a client certificate, and a
    second CA (with its own client certificate) that has nothing to do with the first."""
    folder = str(tmp_path_factory.mktemp("pki"))
    _ca(folder, "kp-test-ca")
    _ca(folder, "other-ca")
    _leaf(folder, "server", "kp-test-ca",
          "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    _leaf(folder, "kp-test-client", "kp-test-ca", "extendedKeyUsage=clientAuth\n")
    _leaf(folder, "stranger", "other-ca", "extendedKeyUsage=clientAuth\n")
    return {name: os.path.join(folder, name) for name in os.listdir(folder)}


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    return str(path)


def _multiply(mgr):
    lhs, rhs, out = mgr.tensor([1, 2, 3]), mgr.tensor([4, 5, 6]), mgr.tensor([0, 0, 0])
    mgr.sequence().record(kp.OpTensorSyncDevice([lhs, rhs])).record(
        kp.OpMult([lhs, rhs, out], mgr.algorithm())).record(kp.OpTensorSyncLocal([out])).eval()
    return out.data().tolist()


def _tls_daemon(pki, *args, **kwargs):
    return Daemon("--tls-cert", pki["server.pem"], "--tls-key", pki["server.key"], *args,
                  tcp=["127.0.0.1:0"], unix=False, **kwargs)


# ---- TLS ----

def test_tls_with_the_right_ca(pki):
    d = _tls_daemon(pki)
    try:
        (address,) = d.tcp_addresses
        port = address.rsplit(":", 1)[1]
        assert f"listening on {address} (TLS)" in d.log()
        with kp.Manager(address=f"tls:{address}", tls_ca=pki["kp-test-ca.pem"]) as mgr:
            assert _multiply(mgr) == [4, 10, 18]
        # tls_ca alone selects TLS; the CA may be given as PEM bytes; "localhost" matches
        # the certificate's DNS name.
        with open(pki["kp-test-ca.pem"], "rb") as f:
            ca = f.read()
        with kp.Manager(address=f"localhost:{port}", tls_ca=ca) as mgr:
            assert _multiply(mgr) == [4, 10, 18]
    finally:
        d.cleanup()


def test_tls_from_environment(pki, monkeypatch):
    d = _tls_daemon(pki)
    try:
        monkeypatch.setenv("KP_ADDRESS", d.tcp_addresses[0])
        monkeypatch.setenv("KP_TLS_CA", pki["kp-test-ca.pem"])
        with kp.Manager() as mgr:
            assert _multiply(mgr) == [4, 10, 18]
    finally:
        d.cleanup()


def test_tls_with_a_wrong_ca_is_refused(pki):
    d = _tls_daemon(pki)
    try:
        address = f"tls:{d.tcp_addresses[0]}"
        with pytest.raises(kp.UnavailableError) as raised:
            kp.Manager(address=address, tls_ca=pki["other-ca.pem"])
        message = str(raised.value)
        assert f"cannot reach kpd at {address}" in message
        assert "TLS handshake failed" in message
        # A plain-text client gets no service either.
        with pytest.raises(kp.UnavailableError, match="cannot reach kpd"):
            kp.Manager(address=d.tcp_addresses[0])
        # The daemon still serves clients that hold the right CA.
        with kp.Manager(address=address, tls_ca=pki["kp-test-ca.pem"]) as mgr:
            assert _multiply(mgr) == [4, 10, 18]
    finally:
        d.cleanup()


def test_mtls_requires_a_client_certificate_from_the_ca(pki):
    d = _tls_daemon(pki, "--tls-client-ca", pki["kp-test-ca.pem"])
    try:
        address = f"tls:{d.tcp_addresses[0]}"
        assert "(TLS, client certificates required)" in d.log()
        with pytest.raises(kp.UnavailableError, match=f"cannot reach kpd at {address}") as raised:
            kp.Manager(address=address, tls_ca=pki["kp-test-ca.pem"])  # no certificate
        assert "client certificate" in str(raised.value)
        with pytest.raises(kp.UnavailableError, match=f"cannot reach kpd at {address}"):
            kp.Manager(address=address, tls_ca=pki["kp-test-ca.pem"],
                       tls_cert=pki["stranger.pem"], tls_key=pki["stranger.key"])
        with kp.Manager(address=address, tls_ca=pki["kp-test-ca.pem"],
                        tls_cert=pki["kp-test-client.pem"],
                        tls_key=pki["kp-test-client.key"]) as mgr:
            assert _multiply(mgr) == [4, 10, 18]
        assert "client certificate CN=kp-test-client" in d.log()
    finally:
        d.cleanup()


def test_tls_options_are_checked_at_startup(pki, tmp_path):
    result = run_kpd("--listen", "127.0.0.1:0", "--tls-cert", pki["server.pem"])
    assert result.returncode != 0
    assert "--tls-cert needs --tls-key" in result.stdout
    result = run_kpd("--listen", "127.0.0.1:0", "--tls-client-ca", pki["kp-test-ca.pem"])
    assert result.returncode != 0
    assert "--tls-client-ca needs --tls-cert" in result.stdout
    missing = str(tmp_path / "missing.pem")
    result = run_kpd("--listen", "127.0.0.1:0", "--tls-cert", missing,
                     "--tls-key", pki["server.key"])
    assert result.returncode != 0
    assert f"--tls-cert {missing}: cannot read the file" in result.stdout


def test_client_tls_arguments_are_checked(pki, tmp_path):
    with pytest.raises(ValueError, match="give both"):
        kp.Manager(address="tls:127.0.0.1:1", tls_cert=pki["kp-test-client.pem"])
    with pytest.raises(ValueError, match="Unix socket"):
        kp.Manager(address=f"unix:{tmp_path}/kpd.sock", tls_ca=pki["kp-test-ca.pem"])
    with pytest.raises(ValueError, match="tls_ca: cannot read"):
        kp.Manager(address="tls:127.0.0.1:1", tls_ca=str(tmp_path / "nothing.pem"))


# ---- plain TCP ----

def test_plain_tcp_on_loopback_is_allowed():
    d = Daemon(tcp=["127.0.0.1:0"], unix=False)
    try:
        assert "(plain TCP)" in d.log()
        with kp.Manager(address=d.tcp_addresses[0]) as mgr:
            assert _multiply(mgr) == [4, 10, 18]
    finally:
        d.cleanup()


@pytest.mark.parametrize("address", ["0.0.0.0:0", "[::]:0", ":0", "10.1.2.3:0"])
def test_plain_tcp_beyond_loopback_is_refused_at_startup(address):
    result = run_kpd("--listen", address)
    assert result.returncode == 1, result.stdout
    assert f"refusing to serve {address} without TLS" in result.stdout
    assert "--insecure-tcp" in result.stdout


def test_insecure_tcp_forces_plain_tcp_with_a_warning():
    d = Daemon("--insecure-tcp", tcp=["0.0.0.0:0"], unix=False)
    try:
        log = d.log()
        assert "warn" in log and "over plain TCP (--insecure-tcp)" in log
        port = d.tcp_addresses[0].rsplit(":", 1)[1]
        with kp.Manager(address=f"127.0.0.1:{port}") as mgr:
            assert _multiply(mgr) == [4, 10, 18]
    finally:
        d.cleanup()


# ---- bearer token ----

def _every_compute_rpc(stub, metadata):
    """Calls every kp.v1.Compute method with an empty request; their status codes."""
    codes = {}
    service = compute_pb2.DESCRIPTOR.services_by_name["Compute"]
    for method in service.methods:
        request = getattr(compute_pb2, method.input_type.name)()
        if method.client_streaming:
            request = iter([request])
        try:
            reply = getattr(stub, method.name)(request, timeout=10, metadata=metadata)
            if method.server_streaming:
                next(iter(reply))
            codes[method.name] = grpc.StatusCode.OK
        except grpc.RpcError as error:
            codes[method.name] = error.code()
    return codes


def test_token_is_required_on_every_rpc(token_file):
    d = Daemon("--token-file", token_file, token=TOKEN)
    try:
        stub = compute_pb2_grpc.ComputeStub(d.channel)
        for metadata in [(), (("authorization", "Bearer wrong"),),
                         (("authorization", TOKEN),),  # no scheme
                         (("authorization", f"Bearer {TOKEN}x"),)]:
            codes = _every_compute_rpc(stub, metadata)
            assert len(codes) >= 16 and "OpenSession" in codes
            assert set(codes.values()) == {grpc.StatusCode.UNAUTHENTICATED}, (metadata, codes)
        # With the token, the calls get through to their own checks.
        codes = _every_compute_rpc(stub, (("authorization", f"Bearer {TOKEN}"),))
        assert grpc.StatusCode.UNAUTHENTICATED not in codes.values()
        assert codes["ListDevices"] == grpc.StatusCode.OK
        assert codes["CreateTensor"] == grpc.StatusCode.NOT_FOUND  # no session given
    finally:
        d.cleanup()


def test_token_in_the_python_client(token_file, monkeypatch, tmp_path):
    d = Daemon("--token-file", token_file, token=TOKEN)
    try:
        with pytest.raises(kp.UnauthenticatedError, match="requires a token"):
            kp.Manager(address=d.address)
        with pytest.raises(kp.UnauthenticatedError, match="does not hold"):
            kp.Manager(address=d.address, token="not-the-token")
        assert issubclass(kp.UnauthenticatedError, kp.KpError)
        with kp.Manager(address=d.address, token=TOKEN) as mgr:
            assert _multiply(mgr) == [4, 10, 18]
        monkeypatch.setenv("KP_TOKEN", TOKEN)
        with kp.Manager(address=d.address) as mgr:
            assert _multiply(mgr) == [4, 10, 18]
        monkeypatch.delenv("KP_TOKEN")
        monkeypatch.setenv("KP_TOKEN_FILE", token_file)
        with kp.Manager(address=d.address) as mgr:
            assert _multiply(mgr) == [4, 10, 18]
        assert d.status().sessions == 0
        assert "refused a call" in d.log()
    finally:
        d.cleanup()


def test_token_and_tls_together(pki, token_file):
    d = _tls_daemon(pki, "--token-file", token_file)
    try:
        address = f"tls:{d.tcp_addresses[0]}"
        with pytest.raises(kp.UnauthenticatedError):
            kp.Manager(address=address, tls_ca=pki["kp-test-ca.pem"])
        with kp.Manager(address=address, tls_ca=pki["kp-test-ca.pem"], token=TOKEN) as mgr:
            assert _multiply(mgr) == [4, 10, 18]
    finally:
        d.cleanup()


def test_bad_token_file_is_refused_at_startup(tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("\n")
    result = run_kpd("--listen", f"unix:{tmp_path}/kpd.sock", "--token-file", str(empty))
    assert result.returncode == 1
    assert "holds no token" in result.stdout


# ---- Unix socket ----

def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_socket_permissions_default_and_parent_folder(tmp_path):
    # A missing parent folder is made 0755 and the socket 0660 whatever the umask.
    socket_path = str(tmp_path / "sub" / "dir" / "kpd.sock")
    d = Daemon("--listen", f"unix:{socket_path}", umask=0o077)
    try:
        assert _mode(d.socket) == 0o660
        assert _mode(socket_path) == 0o660
        assert _mode(os.path.dirname(socket_path)) == 0o755
        assert _mode(os.path.dirname(os.path.dirname(socket_path))) == 0o755
        assert os.stat(socket_path).st_gid == os.getgid()
        with kp.Manager(address=f"unix:{socket_path}") as mgr:
            assert _multiply(mgr) == [4, 10, 18]
    finally:
        d.cleanup()
    assert not os.path.exists(socket_path), "kpd should remove its socket on exit"


def test_socket_mode_and_group_flags():
    other = next((g for g in grp.getgrall() if g.gr_gid != os.getgid()), None)
    args = ["--socket-mode", "0600"]
    if other is not None and os.geteuid() == 0:
        args += ["--socket-group", other.gr_name]
    d = Daemon(*args)
    try:
        assert _mode(d.socket) == 0o600
        if len(args) > 2:
            assert os.stat(d.socket).st_gid == other.gr_gid
            assert f"group {other.gr_name}" in d.log()
    finally:
        d.cleanup()
    result = run_kpd("--listen", "unix:/tmp/kp-never.sock", "--socket-mode", "rw-rw----")
    assert result.returncode != 0 and "--socket-mode rw-rw----" in result.stdout
    result = run_kpd("--listen", "unix:/tmp/kp-never.sock", "--socket-group",
                     "no-such-group-kp")
    assert result.returncode != 0 and "no such group" in result.stdout


CONNECT_AS_NOBODY = """
import os, socket, sys
os.setgid(65534); os.setgroups([]); os.setuid(65534)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1])
    print("connected")
except PermissionError:
    print("refused")
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_socket_mode_keeps_other_users_out():
    results = {}
    for mode in ["0660", "0666"]:
        d = Daemon("--socket-mode", mode)
        try:
            os.chmod(d.dir, 0o755)  # only the socket's own mode stands in the way
            out = subprocess.run([sys.executable, "-c", CONNECT_AS_NOBODY, d.socket],
                                 capture_output=True, text=True, check=True)
            results[mode] = out.stdout.strip()
        finally:
            d.cleanup()
    assert results == {"0660": "refused", "0666": "connected"}


def test_session_is_logged_with_the_peer_uid_and_never_its_secret_id(daemon):
    before = daemon.log()
    with kp.Manager(address=daemon.address) as mgr:
        session = mgr._conn.session
        mgr.tensor([1])
    log = daemon.log()[len(before):]
    expected = f"uid {os.getuid()} gid {os.getgid()} pid {os.getpid()} on {daemon.address}"
    lines = [line for line in log.splitlines() if re.search(r"session #\d+ .*opened by", line)]
    assert len(lines) == 1 and expected in lines[0], lines
    # The id is the session's credential: the log names sessions by their public serial only.
    assert session not in daemon.log()


def test_a_second_kpd_does_not_steal_a_live_socket(daemon):
    result = run_kpd("--listen", daemon.address)
    assert result.returncode == 1
    assert "another process (another kpd?) is serving this socket" in result.stdout
    with kp.Manager(address=daemon.address) as mgr:  # the first one still serves it
        assert _multiply(mgr) == [4, 10, 18]


def test_stale_socket_is_replaced(tmp_path):
    path = str(tmp_path / "kpd.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()  # the file stays, nobody listens
    d = Daemon("--listen", f"unix:{path}")
    try:
        with kp.Manager(address=f"unix:{path}") as mgr:
            assert _multiply(mgr) == [4, 10, 18]
    finally:
        d.cleanup()
