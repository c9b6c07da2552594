"""What the container and Kubernetes tests read: the manifests of deploy/kubernetes/, the
stages of deploy/Dockerfile and .dockerignore, and a kpd started with their settings.

No container engine or cluster runs here (see test_kubernetes.py and test_container_image.py
for what is checked instead)."""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import tempfile
import time
import tomllib
from typing import Dict, Iterator, List, Optional, Tuple

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from conftest import KPD, REPO

yaml = pytest.importorskip(
    "yaml", reason="PyYAML is not installed (it comes with kubernetes-validate: scripts/setup)")
kubernetes_validate = pytest.importorskip(
    "kubernetes_validate",
    reason="kubernetes-validate is not installed (scripts/setup installs it into .venv)")

KUBERNETES_VERSION = "1.30.0"
MANIFESTS = os.path.join(REPO, "deploy", "kubernetes")
DOCKERFILE = os.path.join(REPO, "deploy", "Dockerfile")
DOCKERIGNORE = os.path.join(REPO, ".dockerignore")
HEALTH_SERVICE = "kp.v1.Compute"


# ---------------------------------------------------------------------------------------------
# The manifests


def manifest_files() -> List[str]:
    return sorted(f for f in os.listdir(MANIFESTS)
                  if f.endswith(".yaml") and f != "kustomization.yaml")


def load_all() -> List[Tuple[str, dict]]:
    """(file, resource) for every resource of every manifest."""
    resources = []
    for name in manifest_files():
        with open(os.path.join(MANIFESTS, name)) as f:
            for document in yaml.safe_load_all(f):
                if document is not None:
                    resources.append((name, document))
    return resources


def the(kind: str, name: Optional[str] = None) -> dict:
    found = [r for _, r in load_all()
             if r["kind"] == kind and (name is None or r["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def daemonset() -> dict:
    return the("DaemonSet", "kpd")


def kpd_container() -> dict:
    containers = daemonset()["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["kpd"]
    return containers[0]


def grpc_container_port() -> int:
    ports = {p["name"]: p["containerPort"] for p in kpd_container()["ports"]}
    assert "grpc" in ports, kpd_container()["ports"]
    return ports["grpc"]


def kpd_conf_text() -> str:
    return the("ConfigMap", "kpd-config")["data"]["kpd.conf"]


def kpd_conf() -> dict:
    return tomllib.loads(kpd_conf_text())


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def pod_templates() -> Iterator[Tuple[str, dict]]:
    for resource in (daemonset(), the("Job")):
        yield resource["metadata"]["name"], resource["spec"]["template"]["spec"]


def job_container() -> dict:
    [container] = the("Job")["spec"]["template"]["spec"]["containers"]
    return container


def dockerfile_instructions() -> List[Tuple[str, str]]:
    """(INSTRUCTION, arguments) in order: continuation lines joined, comments dropped."""
    instructions: List[Tuple[str, str]] = []
    pending = ""
    with open(DOCKERFILE) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if line.lstrip().startswith("#"):
                continue  # a comment, also inside a continued instruction
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            line = pending + line
            pending = ""
            if line.strip():
                word, _, rest = line.strip().partition(" ")
                instructions.append((word.upper(), rest.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def stages() -> List[Dict]:
    """Each stage: its base image, name and instructions."""
    result: List[Dict] = []
    for instruction, arguments in dockerfile_instructions():
        if instruction == "FROM":
            words = arguments.split()
            assert len(words) in (1, 3) and (len(words) == 1 or words[1].upper() == "AS"), arguments
            result.append({"image": words[0], "name": words[2] if len(words) == 3 else None,
                           "instructions": []})
        else:
            assert result, f"{instruction} before the first FROM"
            result[-1]["instructions"].append((instruction, arguments))
    return result


def final_stage() -> Dict:
    return stages()[-1]


def of(stage: Dict, instruction: str) -> List[str]:
    return [a for i, a in stage["instructions"] if i == instruction]


def final_user() -> str:
    users = of(final_stage(), "USER")
    assert users, "the final stage sets no USER (it would run as root)"
    return users[-1]


def exposed_ports() -> List[int]:
    return [int(p.split("/")[0]) for a in of(final_stage(), "EXPOSE") for p in a.split()]


def exec_form(stage: Dict, instruction: str) -> List[str]:
    [arguments] = of(stage, instruction)[-1:]
    value = json.loads(arguments)  # the exec form: no shell between Docker and kpd
    assert isinstance(value, list), f"{instruction} {arguments}"
    return value


def image_listen_address() -> str:
    listen = [a.split("=", 1)[1] for a in exec_form(final_stage(), "CMD")
              if a.startswith("--listen=")]
    assert len(listen) == 1, exec_form(final_stage(), "CMD")
    return listen[0]


def apt_packages(stage: Dict) -> List[str]:
    """The packages that `apt-get install` lines of `stage` name (not `$variables`)."""
    packages = []
    for arguments in of(stage, "RUN"):
        for command in re.split(r"&&|;|\|\|", arguments):
            words = shlex.split(command)
            words = [w for w in words if not re.fullmatch(r"[A-Z_]+=\S*", w)]  # VAR=value
            if words[:2] == ["apt-get", "install"]:
                packages += [w for w in words[2:] if not w.startswith("-") and "$" not in w]
    return packages


def env_of(stage: Dict) -> Dict[str, str]:
    env = {}
    for arguments in of(stage, "ENV"):
        for word in shlex.split(arguments):
            key, _, value = word.partition("=")
            env[key] = value
    return env


def setup_apt_packages() -> List[str]:
    with open(os.path.join(REPO, "scripts", "setup")) as f:
        text = f.read()
    match = re.search(r"^APT_PACKAGES=\((.*?)\)", text, re.S | re.M)
    assert match, "scripts/setup has no APT_PACKAGES"
    return match.group(1).split()


def dockerignore_patterns() -> List[Tuple[bool, re.Pattern]]:
    """(excludes, regex) per .dockerignore line, in Docker's order (the last match wins)."""
    patterns = []
    with open(DOCKERIGNORE) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            exclude = not line.startswith("!")
            pattern = line.lstrip("!").strip("/")
            regex = ""
            i = 0
            while i < len(pattern):
                if pattern.startswith("**/", i):
                    regex, i = regex + "(?:.*/)?", i + 3
                elif pattern.startswith("**", i):
                    regex, i = regex + ".*", i + 2
                elif pattern[i] == "*":
                    regex, i = regex + "[^/]*", i + 1
                elif pattern[i] == "?":
                    regex, i = regex + "[^/]", i + 1
                else:
                    regex, i = regex + re.escape(pattern[i]), i + 1
            patterns.append((exclude, re.compile(regex)))
    return patterns


def ignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` (or a folder above it) out of the build context."""
    parts = path.strip("/").split("/")
    for depth in range(1, len(parts) + 1):
        prefix = "/".join(parts[:depth])
        verdict = False
        for exclude, regex in dockerignore_patterns():
            if regex.fullmatch(prefix):
                verdict = exclude
        if verdict:
            return True
    return False


def kpd_flag_names() -> set:
    result = subprocess.run([KPD, "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    return set(re.findall(r"--([a-z][a-z0-9-]+)", result.stdout))


def write_temp(text: str, suffix: str = ".conf") -> str:
    handle, path = tempfile.mkstemp(prefix="kpd-k8s-", suffix=suffix)
    with os.fdopen(handle, "w") as f:
        f.write(text)
    return path


def health(target: str, service: str) -> int:
    with grpc.insecure_channel(target) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=10)
    return reply.status


def metrics_on_a_free_port(text: str) -> str:
    """The ConfigMap's settings with the metrics listener on any free port of its interface."""
    address = kpd_conf()["metrics-listen"]
    return text.replace(json.dumps(address), json.dumps(re.sub(r":\d+$", ":0", address)))


class TcpKpd:
    """kpd started with `args` and no --listen of ours: it listens where they say (port 0:
    any free one), found in its log."""

    def __init__(self, *args: str):
        self.log_file = tempfile.NamedTemporaryFile("w+", prefix="kpd-k8s-", suffix=".log")
        self.process = subprocess.Popen([KPD, *args], stdout=self.log_file,
                                        stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while True:
            match = re.search(r"listening on (\S+):(\d+) \(plain TCP\)", self.log())
            if match:
                self.host, self.port = match.group(1), int(match.group(2))
                break
            if self.process.poll() is not None or time.time() > deadline:
                self.stop()
                pytest.fail(f"kpd {' '.join(args)} did not start:\n{self.log()}")
            time.sleep(0.02)
        self.target = f"127.0.0.1:{self.port}"

    def log(self) -> str:
        self.log_file.seek(0)
        return self.log_file.read()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode
