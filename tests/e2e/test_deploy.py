"""What an operator installs: the systemd units (hardening score, syntax), the sysusers.d entry,
the example configuration, and the Debian packages, built by CPack from this build, installed
with dpkg and run the way kpd.socket and kpd.service run them: kpd as user kpd on a socket of
group kp that systemd made, a client in group kp evaluating through it."""
from __future__ import annotations

import grp
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from typing import Dict, Iterator, List, Sequence

import pytest

from conftest import KPD, MULTIPLY_GLSL, MULTIPLY_PROGRAM, REPO, as_user, run_kpd

DEPLOY = os.path.join(REPO, "deploy")
BUILD = os.path.dirname(os.path.dirname(os.path.abspath(KPD)))  # build/server/kpd -> build
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze is not installed (Debian package systemd; "
    "scripts/setup installs it)")


@needs_analyze
def test_service_exposure_is_at_most_2():
    result = subprocess.run([ANALYZE, "security", "--offline=true", "--no-pager",
                             os.path.join(DEPLOY, "kpd.service")], capture_output=True, text=True)
    match = re.search(r"Overall exposure level for kpd\.service: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 2.0, result.stdout


@needs_analyze
def test_units_verify_cleanly(tmp_path):
    # The same units with ExecStart pointing at this build's kpd (verify checks that it exists).
    with open(os.path.join(DEPLOY, "kpd.service")) as f:
        service = f.read()
    assert "\nExecStart=/usr/bin/kpd " in service
    (tmp_path / "kpd.service").write_text(service.replace("/usr/bin/kpd", os.path.abspath(KPD)))
    shutil.copy(os.path.join(DEPLOY, "kpd.socket"), tmp_path / "kpd.socket")
    result = subprocess.run([ANALYZE, "verify", str(tmp_path / "kpd.socket"),
                             str(tmp_path / "kpd.service")], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stderr


def test_sysusers_entry_creates_the_user_and_group(tmp_path):
    sysusers = shutil.which("systemd-sysusers")
    if sysusers is None:
        pytest.skip("systemd-sysusers is not installed (Debian package systemd)")
    (tmp_path / "etc").mkdir()
    subprocess.run([sysusers, f"--root={tmp_path}", os.path.join(DEPLOY, "sysusers.d", "kpd.conf")],
                   check=True, capture_output=True)
    passwd = (tmp_path / "etc" / "passwd").read_text()
    groups = {line.split(":")[0]: line.strip().split(":")[3].split(",")
              for line in (tmp_path / "etc" / "group").read_text().splitlines()}
    assert re.search(r"^kpd:x:\d+:\d+:[^:]*:/nonexistent:/usr/sbin/nologin$", passwd, re.M)
    for group in ("kp", "video", "render"):
        assert "kpd" in groups[group], groups


def help_defaults() -> Dict[str, str]:
    text = run_kpd("--help").stdout
    return dict(re.findall(r"--([a-z-]+) [A-Z]+(?::[^=\s]*(?: in \[[^\]]*\])?)?=(\S+)", text))


def test_example_config_is_valid_and_shows_the_defaults(tmp_path):
    with open(os.path.join(DEPLOY, "kpd.conf")) as f:
        settings = re.findall(r"^# ([a-z-]+ = .*)$", f.read(), re.M)
    assert len(settings) >= 10
    defaults = help_defaults()
    for line in settings:
        name, value = line.split(" = ", 1)
        if name in defaults:
            assert value.strip('"') == defaults[name], f"{name}: {value} vs {defaults[name]}"
    config = tmp_path / "kpd.conf"
    config.write_text("\n".join(settings) + "\n")
    result = run_kpd("--config", str(config), "--list-devices")
    assert result.returncode == 0, result.stdout


# ---- the Debian packages ----

INSTALLED = ["/usr/bin/kpd", "/usr/bin/kpd-compile", "/usr/lib/systemd/system/kpd.service",
             "/usr/lib/systemd/system/kpd.socket", "/usr/lib/sysusers.d/kpd.conf",
             "/etc/kp/kpd.conf", "/usr/share/kp/proto/kp/v1/compute.proto",
             "/usr/share/kp/proto/kp/v1/types.proto", "/usr/include/kp/kp.hpp"]


def exists(kind: str, name: str) -> bool:
    try:
        (pwd.getpwnam if kind == "user" else grp.getgrnam)(name)
        return True
    except KeyError:
        return False


@pytest.fixture(scope="module")
def installed() -> Iterator[List[str]]:
    """Builds the packages from this build and installs them; purges them afterwards, and
    removes the user and groups their installation created."""
    if os.geteuid() != 0:
        pytest.skip("installing a Debian package needs root")
    if shutil.which("dpkg") is None or shutil.which("cpack") is None:
        pytest.skip("needs dpkg and cpack (Debian 12 with cmake)")
    if subprocess.run(["dpkg", "-s", "kpd"], capture_output=True).returncode == 0:
        pytest.skip("a kpd package is installed already: not replacing it")
    before = {("user", "kpd"): exists("user", "kpd"), **{("group", g): exists("group", g)
              for g in ("kp", "video", "render")}}
    out = tempfile.mkdtemp(prefix="kp-deb-")
    try:
        built = subprocess.run(["cpack", "-G", "DEB", "-B", out], cwd=BUILD, capture_output=True,
                               text=True, timeout=600)
        assert built.returncode == 0, built.stdout + built.stderr
        debs = sorted(os.path.join(out, f) for f in os.listdir(out) if f.endswith(".deb"))
        assert [os.path.basename(d).split("_")[0] for d in debs] == ["kpd", "libkp-client-dev"]
        done = subprocess.run(["dpkg", "-i", *debs], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        yield debs
    finally:
        subprocess.run(["dpkg", "--purge", "kpd", "libkp-client-dev"], capture_output=True)
        if not before[("user", "kpd")] and exists("user", "kpd"):
            subprocess.run(["userdel", "kpd"], capture_output=True)
        for group in ("kp", "video", "render", "kpd"):
            if not before.get(("group", group), False) and exists("group", group):
                subprocess.run(["groupdel", group], capture_output=True)
        shutil.rmtree(out, ignore_errors=True)


def test_package_puts_files_where_the_unit_expects_them(installed):
    for path in INSTALLED:
        assert os.path.exists(path), path
    with open("/usr/lib/systemd/system/kpd.service") as f:
        exec_start = re.search(r"^ExecStart=(\S+)", f.read(), re.M).group(1)
    assert os.access(exec_start, os.X_OK)
    version = subprocess.run([exec_start, "--version"], capture_output=True, text=True)
    assert version.returncode == 0
    assert version.stdout == run_kpd("--version").stdout  # the build that was packaged
    assert "kpd" in grp.getgrnam("kp").gr_mem
    assert pwd.getpwnam("kpd").pw_shell == "/usr/sbin/nologin"
    if ANALYZE is not None:
        verify = subprocess.run([ANALYZE, "verify", "/usr/lib/systemd/system/kpd.socket",
                                 "/usr/lib/systemd/system/kpd.service"],
                                capture_output=True, text=True)
        assert verify.returncode == 0 and verify.stderr == "", verify.stderr


class Served:
    def __init__(self, path: str, process: subprocess.Popen):
        self.path, self.process = path, process


@pytest.fixture
def served(installed) -> Iterator[Served]:
    """The packaged kpd as kpd.socket and kpd.service run it: the socket made for it (root:kp
    0660, in a folder owned by kpd, as /run/kp), kpd started on it as user kpd with the unit's
    groups and told of the socket as systemd tells it (LISTEN_FDS, LISTEN_PID)."""
    kpd_user = pwd.getpwnam("kpd")
    folder = tempfile.mkdtemp(prefix="kp-run-")
    os.chown(folder, kpd_user.pw_uid, kpd_user.pw_gid)
    os.chmod(folder, 0o755)
    path = os.path.join(folder, "kpd.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chown(path, 0, grp.getgrnam("kp").gr_gid)
    os.chmod(path, 0o660)
    listener.listen(64)
    log_path = os.path.join(folder, "kpd.log")

    def as_systemd_would():  # in the child: the socket as descriptor 3, LISTEN_PID = itself
        os.dup2(listener.fileno(), 3)
        os.environ["LISTEN_FDS"] = "1"
        os.environ["LISTEN_PID"] = str(os.getpid())

    groups = [grp.getgrnam(g).gr_gid for g in ("kp", "video", "render")]
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            ["/usr/bin/kpd", "--socket-group", "kp", "--log-level", "info"], stdout=log,
            stderr=subprocess.STDOUT, user=kpd_user.pw_uid, group=kpd_user.pw_gid,
            extra_groups=groups, preexec_fn=as_systemd_would, pass_fds=(listener.fileno(), 3))
    try:
        yield Served(path, process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        listener.close()
        with open(log_path) as f:
            print(f.read()[-2000:], file=sys.stderr)
        shutil.rmtree(folder, ignore_errors=True)




def run_multiply(address: str, python: str = sys.executable,
                 prefix: Sequence[str] = ()) -> subprocess.CompletedProcess:
    """MULTIPLY_PROGRAM against `address` with `python`, under `prefix` (conftest.as_user)."""
    env = {"PATH": os.environ.get("PATH", "")}
    if python == sys.executable:  # this test's own environment: the kp of the source tree
        env["PYTHONPATH"] = os.pathsep.join(sys.path[1:])
    return subprocess.run([*prefix, python, "-c", MULTIPLY_PROGRAM, address, MULTIPLY_GLSL],
                          capture_output=True, text=True, cwd="/", timeout=120, env=env)


def test_packaged_kpd_runs_as_kpd_and_serves_through_the_socket(served):
    done = run_multiply("unix:" + served.path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"shared_memory": True, "result": [4, 10, 18]}
    with open(f"/proc/{served.process.pid}/status") as f:
        uid = re.search(r"^Uid:\s+(\d+)", f.read(), re.M).group(1)
    assert int(uid) == pwd.getpwnam("kpd").pw_uid
    data = os.stat(served.path + ".data")  # the local data socket kpd made
    assert data.st_gid == grp.getgrnam("kp").gr_gid and data.st_mode & 0o777 == 0o660
    served.process.terminate()
    assert served.process.wait(timeout=30) == 0


MEMBER = "kp-e2e-member"


def test_an_unprivileged_member_of_kp_evaluates(served, wheel_python):
    """From the built .deb and the built wheel to an evaluation, as a new user in group kp,
    with no other step."""
    if shutil.which("useradd") is None:
        pytest.skip("needs useradd (Debian's passwd package)")
    created = not exists("user", MEMBER)
    if created:
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        "--user-group", "--groups", "kp", MEMBER], check=True)
    try:
        member = pwd.getpwnam(MEMBER)
        as_member = as_user(member.pw_uid, member.pw_gid, [grp.getgrnam("kp").gr_gid])
        done = run_multiply("unix:" + served.path, wheel_python, as_member)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"shared_memory": True, "result": [4, 10, 18]}
        # Not in group kp: refused at the socket.
        outsider = run_multiply("unix:" + served.path, wheel_python,
                                as_user(member.pw_uid, member.pw_gid))
        assert outsider.returncode != 0
        assert "ermission denied" in outsider.stderr or "cannot reach kpd" in outsider.stderr
    finally:
        if created:
            subprocess.run(["userdel", MEMBER], capture_output=True)
            subprocess.run(["groupdel", MEMBER], capture_output=True)
