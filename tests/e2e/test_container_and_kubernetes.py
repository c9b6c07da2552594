"""kpd in a container and on Kubernetes: deploy/Dockerfile and deploy/kubernetes/.

No container engine or cluster runs here, so what can be checked without one is:
- every manifest against the Kubernetes 1.30 JSON schemas, strictly (an unknown field fails);
- the invariants that tie the pieces together, read from the YAML and the Dockerfile: GPU nodes
  and GPU limits, non-root and locked-down pods, gRPC probes of kp.v1.Compute on the port kpd
  listens on (ConfigMap, containerPort, EXPOSE, image CMD, Services, the Job's KP_ADDRESS),
  Service and PodDisruptionBudget selectors, the build context (.dockerignore) and the
  packages the image installs against the libraries the built kpd links;
- the ConfigMap's kpd.conf and the image's CMD run through the real kpd, which answers the
  probe's health check, and the example Job's program, run against it over TCP.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from typing import Dict, Iterator, List, Optional, Tuple

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from conftest import KPD, REPO, Daemon, run_kpd

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


def test_every_manifest_validates_against_the_kubernetes_schemas_strictly():
    resources = load_all()
    kinds = sorted(f"{r['kind']}/{r['metadata']['name']}" for _, r in resources)
    assert kinds == ["ConfigMap/kpd-config", "DaemonSet/kpd", "Job/kp-example", "Namespace/kp",
                     "PodDisruptionBudget/kpd", "Service/kpd", "Service/kpd-nodes"], kinds
    failures = []
    for name, resource in resources:
        try:
            kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            failures.append(f"{name}: {resource['kind']}/{resource['metadata']['name']}: "
                            f"{'.'.join(map(str, error.path))}: {error.message}")
    assert not failures, "\n".join(failures)


def test_the_strict_validation_refuses_an_unknown_field():
    # The control: the same validation fails a DaemonSet with a misspelt probe field.
    broken = daemonset()
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["periodSecondz"] = 10
    with pytest.raises(kubernetes_validate.ValidationError, match="periodSecondz"):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest_in_one_namespace():
    with open(os.path.join(MANIFESTS, "kustomization.yaml")) as f:
        kustomization = yaml.safe_load(f)
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == manifest_files()
    namespace = kustomization["namespace"]
    assert the("Namespace")["metadata"]["name"] == namespace
    for name, resource in load_all():
        if resource["kind"] != "Namespace":
            assert resource["metadata"].get("namespace") == namespace, name
    # Its image names are the ones the pods run (so `kustomize edit set image` reaches them).
    images = {c["image"].split(":")[0]
              for r in (daemonset(), the("Job"))
              for c in r["spec"]["template"]["spec"]["containers"]}
    assert {i["name"] for i in kustomization["images"]} == images


def test_the_daemonset_runs_one_kpd_per_gpu_node_with_the_gpu():
    pod = daemonset()["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in \
        pod["tolerations"]
    limits = kpd_container()["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == 1
    # Set by the device plugin per allocation: setting it in the pod would bypass it.
    names = {e["name"] for e in kpd_container().get("env", [])}
    assert "NVIDIA_VISIBLE_DEVICES" not in names


def pod_templates() -> Iterator[Tuple[str, dict]]:
    for resource in (daemonset(), the("Job")):
        yield resource["metadata"]["name"], resource["spec"]["template"]["spec"]


@pytest.mark.parametrize("name", ["kpd", "kp-example"])
def test_pods_are_non_root_and_meet_the_restricted_pod_security_profile(name):
    pod = dict(pod_templates())[name]
    security = pod["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] > 0 and security["runAsGroup"] > 0
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod.get(key), key
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["runAsNonRoot"] is True, container["name"]
        assert context["allowPrivilegeEscalation"] is False, container["name"]
        assert context["readOnlyRootFilesystem"] is True, container["name"]
        assert context["capabilities"] == {"drop": ["ALL"]}, container["name"]
        assert not context.get("privileged"), container["name"]
    # The namespace enforces that profile.
    labels = the("Namespace")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_kpds_user_is_the_images_user():
    assert daemonset()["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == \
        int(final_user().split(":")[0])


def test_probes_ask_kpds_health_service_on_its_port():
    container = kpd_container()
    port = grpc_container_port()
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"] == {"port": port, "service": HEALTH_SERVICE}, probe
    # The port kpd listens on, from the ConfigMap; and the image's.
    listen = kpd_conf()["listen"]
    assert [port_of(a) for a in listen] == [port]
    assert listen == ["0.0.0.0:%d" % port]  # every interface: the kubelet probes the pod IP
    assert port_of(image_listen_address()) == port
    # The image exposes the gRPC port and the metrics port the ConfigMap serves, which the
    # DaemonSet names "metrics" and its scrape annotation points at.
    metrics = port_of(kpd_conf()["metrics-listen"])
    assert exposed_ports() == [port, metrics]
    named = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert named == {"grpc": port, "metrics": metrics}
    annotations = daemonset()["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(metrics)
    # The kubelet's gRPC probe speaks no TLS, so kpd serves plain TCP there.
    config = kpd_conf()
    assert config["insecure-tcp"] is True
    assert "tls-cert" not in config


def test_the_configmap_is_kpds_configuration_file():
    container = kpd_container()
    # --config given (a missing file is then an error), no --listen: the ConfigMap decides.
    assert container["args"] == ["--config=/etc/kp/kpd.conf"]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/etc/kp")
    volume = next(v for v in daemonset()["spec"]["template"]["spec"]["volumes"]
                  if v["name"] == mount["name"])
    assert volume["configMap"]["name"] == "kpd-config"
    assert "kpd.conf" in the("ConfigMap", "kpd-config")["data"]
    # kpd drains (drain-ms), then ends the sessions, before Kubernetes kills it.
    grace = daemonset()["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace * 1000 >= kpd_conf()["drain-ms"] + 5000


def test_the_services_select_the_daemons_and_the_budget_protects_them():
    pod_labels = daemonset()["spec"]["template"]["metadata"]["labels"]
    selector = daemonset()["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    job_labels = the("Job")["spec"]["template"]["metadata"]["labels"]
    for name in ("kpd", "kpd-nodes"):
        spec = the("Service", name)["spec"]
        assert spec["selector"] == selector, name
        assert not spec["selector"].items() <= job_labels.items(), name
        [port] = spec["ports"]
        assert port["targetPort"] == "grpc" and port["port"] == grpc_container_port(), name
    assert the("Service", "kpd-nodes")["spec"]["clusterIP"] == "None"
    assert the("Service", "kpd")["spec"]["type"] == "ClusterIP"
    budget = the("PodDisruptionBudget")["spec"]
    assert budget["selector"]["matchLabels"] == selector
    # A DaemonSet has no scale subresource: only an integer minAvailable works for its pods.
    assert isinstance(budget["minAvailable"], int) and budget["minAvailable"] >= 1
    assert "maxUnavailable" not in budget


def job_container() -> dict:
    [container] = the("Job")["spec"]["template"]["spec"]["containers"]
    return container


def test_the_job_finds_every_kpd_through_the_headless_service():
    env = {e["name"]: e for e in job_container()["env"]}
    address = env["KP_ADDRESS"]["value"]
    assert address.startswith("dns:")  # the client resolves the name and places its session
    host, port = address[len("dns:"):].rsplit(":", 1)
    service = the("Service", "kpd-nodes")
    assert service["spec"]["clusterIP"] == "None"
    assert host == service["metadata"]["name"]
    assert int(port) == service["spec"]["ports"][0]["port"]
    token = env["KP_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert token["optional"] is True
    secret = next(v for v in daemonset()["spec"]["template"]["spec"]["volumes"]
                  if v["name"] == "token")["secret"]
    assert token["name"] == secret["secretName"] and secret["optional"] is True
    assert "nvidia.com/gpu" not in job_container()["resources"].get("limits", {})


# ---------------------------------------------------------------------------------------------
# The Dockerfile


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


def test_every_stage_is_debian_12():
    all_stages = stages()
    assert len(all_stages) >= 2, "a build stage and a runtime stage"
    for stage in all_stages:
        assert re.fullmatch(r"debian:(12|bookworm)(-slim)?", stage["image"]), stage["image"]
    assert final_stage()["name"] == "runtime"
    assert stages()[0]["name"] == "build"


def test_the_image_runs_kpd_as_a_non_root_user():
    user = final_user()
    uid, _, gid = user.partition(":")
    # Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
    assert uid.isdigit() and int(uid) != 0, user
    assert not gid or (gid.isdigit() and int(gid) != 0), user
    assert exec_form(final_stage(), "ENTRYPOINT") == ["/usr/bin/kpd"]


def test_the_runtime_stage_has_the_vulkan_loader_and_no_gpu_driver():
    packages = apt_packages(final_stage())
    assert "libvulkan1" in packages
    drivers = [p for p in packages if re.search(r"nvidia|mesa|libgl1-mesa|vulkan-drivers", p)]
    assert not drivers, drivers
    # Mesa's lavapipe only behind a build argument that is off by default.
    assert "ARG WITH_LAVAPIPE=0" in [f"ARG {a}" for a in of(final_stage(), "ARG")]
    run = " ".join(of(final_stage(), "RUN"))
    assert re.search(r'if \[ "\$WITH_LAVAPIPE" = 1 \]; then extra="mesa-vulkan-drivers"', run)
    env = env_of(final_stage())
    assert env["NVIDIA_VISIBLE_DEVICES"] == "all"
    # graphics: the toolkit mounts the Vulkan ICD only with it.
    assert set(env["NVIDIA_DRIVER_CAPABILITIES"].split(",")) == {"compute", "utility", "graphics"}


def test_the_image_has_oci_labels():
    labels = " ".join(of(final_stage(), "LABEL"))
    for key in ("title", "description", "version", "revision", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels, key


def test_the_runtime_stage_installs_the_libraries_kpd_links():
    tools = [t for t in ("dpkg", "ldd", "objdump") if shutil.which(t) is None]
    if tools:
        pytest.skip(f"{', '.join(tools)} not installed: cannot map kpd's libraries to Debian "
                    "packages (a Debian host with build-essential has them)")
    packages = set(apt_packages(final_stage()))
    base = {"libc6", "libgcc-s1"}  # essential in every Debian image
    missing = {}
    for binary in (KPD, os.path.join(os.path.dirname(KPD), "kpd-compile")):
        dump = subprocess.run(["objdump", "-p", binary], capture_output=True, text=True,
                              check=True).stdout
        needed = re.findall(r"^\s*NEEDED\s+(\S+)$", dump, re.M)
        assert "libvulkan.so.1" in needed or binary != KPD, needed
        resolved = dict(re.findall(r"^\s*(\S+) => (\S+) \(", subprocess.run(
            ["ldd", binary], capture_output=True, text=True, check=True).stdout, re.M))
        for library in needed:
            # By folder and name: with merged /usr, dpkg knows a file under either /lib or
            # /usr/lib, as its package shipped it.
            folder = os.path.basename(os.path.dirname(resolved[library]))
            owner = subprocess.run(["dpkg", "-S", f"*/{folder}/{library}"],
                                   capture_output=True, text=True)
            assert owner.returncode == 0, f"{library}: {owner.stderr}"
            package = owner.stdout.split(":")[0].split(",")[0]
            if package not in packages | base:
                missing[library] = package
    assert not missing, f"the runtime stage lacks the packages of {missing}"


def setup_apt_packages() -> List[str]:
    with open(os.path.join(REPO, "scripts", "setup")) as f:
        text = f.read()
    match = re.search(r"^APT_PACKAGES=\((.*?)\)", text, re.S | re.M)
    assert match, "scripts/setup has no APT_PACKAGES"
    return match.group(1).split()


def test_the_build_stage_installs_what_scripts_setup_lists_for_building():
    build = apt_packages(stages()[0])
    wanted = set(setup_apt_packages())
    assert set(build) <= wanted, set(build) - wanted
    # What scripts/setup installs for tests, fuzzing, Python and development only.
    not_for_kpd = {"ccache", "git", "python3", "python3-venv", "python3-dev",
                   "mesa-vulkan-drivers", "vulkan-validationlayers", "vulkan-tools",
                   "libgtest-dev", "libgmock-dev", "openssl", "systemd", "clang",
                   "libclang-rt-14-dev"}
    lacking = (wanted - not_for_kpd) - set(build)
    assert not lacking, (f"scripts/setup installs {sorted(lacking)}: add them to the build stage "
                         "of deploy/Dockerfile, or to not_for_kpd here if building kpd does "
                         "not need them")
    run = " ".join(of(stages()[0], "RUN"))
    assert "-DCMAKE_BUILD_TYPE=Release" in run
    assert re.search(r"cmake --build build --target kpd kpd-compile", run)


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


def test_dockerignore_keeps_build_trees_and_environments_out():
    for path in (".git", ".venv", "build", "build-fuzz", "build/server/kpd", ".pytest_cache",
                 "client-python/kp/__pycache__", "client-python/kpd_client.egg-info"):
        assert ignored(path), path
    assert not ignored("server/main.cpp") and not ignored("proto/kp/v1/compute.proto")


def test_every_copy_takes_a_path_the_build_context_holds():
    names = []
    copies = 0
    for stage in stages():
        for arguments in of(stage, "COPY"):
            words = arguments.split()
            options = [w for w in words if w.startswith("--")]
            paths = [w for w in words if not w.startswith("--")]
            sources = paths[:-1]
            assert sources, arguments
            source_stage = next((o.split("=", 1)[1] for o in options
                                 if o.startswith("--from=")), None)
            if source_stage is not None:
                assert source_stage in names, f"COPY {arguments}: no earlier stage {source_stage}"
                continue
            for source in sources:
                copies += 1
                assert os.path.exists(os.path.join(REPO, source)), \
                    f"COPY {source}: not in the repository"
                assert not ignored(source), f"COPY {source}: .dockerignore excludes it"
        names.append(stage["name"])
    assert copies >= 5
    # The runtime takes kpd and its compiler worker from where CMake builds them.
    [copy] = [a for a in of(final_stage(), "COPY") if a.startswith("--from=build")]
    assert copy.split()[1:] == ["/src/build/server/kpd", "/src/build/server/kpd-compile",
                                "/usr/bin/"]


# ---------------------------------------------------------------------------------------------
# Through the real kpd


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


def test_every_setting_of_the_configmap_is_a_kpd_flag():
    flags = kpd_flag_names()
    assert {"listen", "insecure-tcp", "token-file"} <= flags, flags
    # The settings and the commented-out ones an operator may turn on.
    names = re.findall(r"^\s*#?\s*([a-z][a-z0-9-]*) = ", kpd_conf_text(), re.M)
    assert len(names) >= 5, names
    unknown = sorted(set(names) - flags)
    assert not unknown, f"not flags of kpd --help: {unknown}"


def metrics_on_a_free_port(text: str) -> str:
    """The ConfigMap's settings with the metrics listener on any free port of its interface."""
    address = kpd_conf()["metrics-listen"]
    return text.replace(json.dumps(address), json.dumps(re.sub(r":\d+$", ":0", address)))


def test_kpd_starts_with_the_configmaps_settings():
    path = write_temp(metrics_on_a_free_port(kpd_conf_text()))
    try:
        # kpd on a private socket: --listen on the command line wins over the file's.
        d = Daemon("--config", path)
        try:
            assert health(d.address, HEALTH_SERVICE) == health_pb2.HealthCheckResponse.SERVING
            assert "unknown setting" not in d.log()
        finally:
            code = d.stop()
            shutil.rmtree(d.dir, ignore_errors=True)
        assert code == 0, d.log()
        # The control: one setting kpd does not know, and it refuses to start.
        bad = write_temp(kpd_conf_text() + "no-such-setting = 1\n")
        try:
            refused = run_kpd("--config", bad, "--listen", "unix:" + d.socket)
        finally:
            os.unlink(bad)
        assert refused.returncode != 0
        assert "unknown setting 'no-such-setting'" in refused.stdout, refused.stdout
    finally:
        os.unlink(path)


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


def test_the_configmaps_address_serves_the_probe_and_the_example_job():
    listen = kpd_conf()["listen"]
    # The same settings, on a free port of the same interfaces.
    text = metrics_on_a_free_port(kpd_conf_text()).replace(
        json.dumps(listen), json.dumps([re.sub(r":\d+$", ":0", a) for a in listen]))
    assert text != kpd_conf_text()
    path = write_temp(text)
    try:
        kpd = TcpKpd("--config", path)
        try:
            assert kpd.host == listen[0].rsplit(":", 1)[0]
            # What the kubelet's probes ask.
            assert health(kpd.target, kpd_container()["livenessProbe"]["grpc"]["service"]) == \
                health_pb2.HealthCheckResponse.SERVING
            # The Job's program, with its environment, KP_ADDRESS naming this kpd the way the
            # Job names the headless Service: a DNS name (localhost here) to resolve and place.
            command = job_container()["command"]
            assert command[:2] == ["python3", "-c"]
            env = {k: v for k, v in os.environ.items() if not k.startswith("KP_")}
            env["KP_ADDRESS"] = f"dns:localhost:{kpd.port}"
            job = subprocess.run([sys.executable, "-c", command[2]], env=env,
                                 capture_output=True, text=True, timeout=120)
            assert job.returncode == 0, job.stdout + job.stderr
            assert job.stdout.strip() == f"kpd at 127.0.0.1:{kpd.port}: [0.0, 4.0, 12.0]", \
                job.stdout
        finally:
            code = kpd.stop()
        assert code == 0, kpd.log()
    finally:
        os.unlink(path)


def test_the_images_command_line_serves_the_exposed_port():
    command = exec_form(final_stage(), "CMD")
    address = image_listen_address()
    assert port_of(address) == exposed_ports()[0]
    # The same flags on a free port; an empty --config keeps this host's /etc/kp/kpd.conf out.
    args = [a.replace(address, re.sub(r":\d+$", ":0", address)) for a in command]
    empty = write_temp("")
    try:
        kpd = TcpKpd("--config", empty, *args)
        try:
            assert kpd.host == address.rsplit(":", 1)[0]
            assert health(kpd.target, HEALTH_SERVICE) == health_pb2.HealthCheckResponse.SERVING
        finally:
            code = kpd.stop()
        assert code == 0, kpd.log()
    finally:
        os.unlink(empty)
