"""kpctl, the operator's command line (installed with the kp package): status, devices,
compile and bench against a real kpd, in tables and as JSON; errors on one line with the
documented exit status."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import List

import kp

KPCTL = [sys.executable, "-m", "kp.kpctl"]


def kpctl(*args: str, env_address: str = "") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "KP_ADDRESS"}
    if env_address:
        env["KP_ADDRESS"] = env_address
    return subprocess.run([*KPCTL, *args], capture_output=True, text=True, timeout=300, env=env)


def test_the_console_script_is_installed():
    script = shutil.which("kpctl", path=os.path.dirname(sys.executable))
    assert script, "pip install . should install kpctl next to the interpreter"
    done = subprocess.run([script, "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "status" in done.stdout and "Exit status" in done.stdout


def test_status_reports_sessions_memory_and_version(daemon):
    with kp.Manager(address=daemon.address) as mgr:
        mgr.tensor([0.0] * 1024)
        mgr._conn.flush()  # pipelined creation (kp._pipeline): sent now
        done = kpctl("--address", daemon.address, "--json", "status")
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["sessions"] >= 1 and result["objects"] >= 1
        assert result["devices"][0]["memory_in_use_bytes"] >= 4096
        assert result["version"].startswith("0.") and "(git " in result["version"]
        assert result["uptime_seconds"] >= 0
    table = kpctl("status", env_address=daemon.address)
    assert table.returncode == 0, table.stderr
    first = table.stdout.splitlines()[0]
    assert first.startswith("kpd ") and daemon.address in first
    assert "memory in use" in table.stdout and result["devices"][0]["name"] in table.stdout


def test_devices_lists_each_device(daemon):
    done = kpctl("--address", daemon.address, "--json", "devices")
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    with kp.Manager(address=daemon.address) as mgr:
        names = [d["device_name"] for d in mgr.list_devices()]
    assert [d["name"] for d in listed] == names
    assert all(d["memory_bytes"] > 0 for d in listed)
    assert names[0] in kpctl("--address", daemon.address, "devices").stdout


def test_devices_shows_each_devices_load(private_daemon):
    before = json.loads(kpctl("--address", private_daemon.address, "--json", "devices").stdout)
    assert before[0]["sessions"] == 0 and before[0]["available"] is True
    with kp.Manager(address=private_daemon.address) as mgr:
        mgr.tensor([0.0] * 4096)
        mgr._conn.flush()  # pipelined creation (kp._pipeline): sent now
        during = json.loads(kpctl("--address", private_daemon.address, "--json",
                                  "devices").stdout)
        shown = kpctl("--address", private_daemon.address, "devices").stdout
    assert during[0]["sessions"] == 1
    assert during[0]["memory_used_bytes"] >= 4 * 4096
    assert 0 < during[0]["memory_free_bytes"] <= during[0]["memory_bytes"]
    assert "sessions" in shown and "busy" in shown


def test_sessions_lists_owner_client_and_memory(daemon):
    with kp.Manager(address=daemon.address) as mgr:
        mgr.tensor([0.0] * 4096)  # 16 KiB
        mgr._conn.flush()  # pipelined creation (kp._pipeline): sent now
        serial = int(mgr._conn.label.split("#")[1])
        done = kpctl("--address", daemon.address, "--json", "sessions")
        assert done.returncode == 0, done.stderr
        mine = [s for s in json.loads(done.stdout) if s["serial"] == serial]
        assert len(mine) == 1, done.stdout
        assert mine[0]["owner"] == f"uid {os.geteuid()}"
        assert mine[0]["client"].startswith("python kp ") and mine[0]["objects"] == 1
        assert mine[0]["tensor_bytes"] == 16384 and mine[0]["device"] == 0
        assert mgr._conn.session not in done.stdout  # never the secret id
        table = kpctl("--address", daemon.address, "sessions").stdout
        assert f"#{serial}" in table and "owner" in table


def test_sessions_is_refused_over_tcp(daemon):
    # Over TCP nobody's uid is known: refused to anyone (another user on the Unix socket:
    # test_identity.py).
    done = kpctl("--address", daemon.tcp_addresses[0], "sessions")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"kpctl: ListSessions: only root and kpd's own user (uid {os.geteuid()}) may list the "
        "sessions, through a Unix socket")


def test_compile_writes_spirv(daemon, tmp_path):
    shader = tmp_path / "double.comp"
    shader.write_text("#version 450\nlayout(local_size_x = 1) in;\n"
                      "layout(set = 0, binding = 0) buffer A { float a[]; };\n"
                      "void main() { a[gl_GlobalInvocationID.x] *= 2.0; }\n")
    done = kpctl("--address", daemon.address, "compile", str(shader), "-o",
                 str(tmp_path / "out.spv"))
    assert done.returncode == 0, done.stderr
    spirv = (tmp_path / "out.spv").read_bytes()
    assert spirv[:4] == (0x07230203).to_bytes(4, "little") and str(len(spirv)) in done.stdout
    # The SPIR-V runs.
    with kp.Manager(address=daemon.address) as mgr:
        t = mgr.tensor([1.0, 2.0])
        algo = mgr.algorithm([t], spirv)
        (mgr.sequence().record(kp.OpTensorSyncDevice([t])).record(kp.OpAlgoDispatch(algo))
            .record(kp.OpTensorSyncLocal([t])).eval())
        assert t.data().tolist() == [2.0, 4.0]
    # A shader that does not compile: kpd's message, on one line, exit status 1.
    shader.write_text("#version 450\nvoid main() { nope; }\n")
    failed = kpctl("--address", daemon.address, "compile", str(shader))
    assert failed.returncode == 1
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kpctl: ") and "nope" in lines[0], lines


def test_bench_measures_latency_and_bandwidth(daemon):
    done = kpctl("--address", daemon.address, "--json", "bench", "--evals", "50",
                 "--megabytes", "4", "--rounds", "2")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert 0 < result["small_eval_us"]["p50"] <= result["small_eval_us"]["p99"]
    assert result["round_trip_bytes"] == 4 << 20 and result["round_trip_gb_per_s"] > 0


def test_errors_are_one_line_with_documented_exit_codes(tmp_path):
    missing = kpctl("--address", "unix:/nonexistent/kpd.sock", "status")
    assert missing.returncode == 1
    assert missing.stderr.strip() == ("kpctl: cannot reach kpd at unix:/nonexistent/kpd.sock: "
                                      "there is no socket at /nonexistent/kpd.sock")
    usage = kpctl("frobnicate")
    assert usage.returncode == 2
    unreadable = kpctl("--address", "unix:/nonexistent/kpd.sock", "compile",
                       str(tmp_path / "none.comp"))
    assert unreadable.returncode == 2
    assert unreadable.stderr.startswith("kpctl: cannot read ")
