"""deploy/kubernetes/, without a cluster: every manifest against the Kubernetes 1.30 JSON
schemas, strictly (an unknown field fails); the invariants that tie them together (GPU nodes and
limits, non-root and locked-down pods, gRPC probes of kp.v1.Compute on the port kpd listens on,
Service and PodDisruptionBudget selectors, the Job's address); and the ConfigMap's kpd.conf run
through the real kpd, which answers the probes' health check and the example Job's program."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from grpc_health.v1 import health_pb2

from conftest import Daemon, run_kpd
from deploy_files import (
    manifest_files,
    load_all,
    the,
    daemonset,
    kpd_container,
    grpc_container_port,
    kpd_conf_text,
    kpd_conf,
    port_of,
    pod_templates,
    job_container,
    final_user,
    exposed_ports,
    image_listen_address,
    kpd_flag_names,
    write_temp,
    health,
    metrics_on_a_free_port,
    TcpKpd,
    KUBERNETES_VERSION,
    MANIFESTS,
    HEALTH_SERVICE,
    yaml,
    kubernetes_validate,
)


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


def test_every_setting_of_the_configmap_is_a_kpd_flag():
    flags = kpd_flag_names()
    assert {"listen", "insecure-tcp", "token-file"} <= flags, flags
    # The settings and the commented-out ones an operator may turn on.
    names = re.findall(r"^\s*#?\s*([a-z][a-z0-9-]*) = ", kpd_conf_text(), re.M)
    assert len(names) >= 5, names
    unknown = sorted(set(names) - flags)
    assert not unknown, f"not flags of kpd --help: {unknown}"


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
