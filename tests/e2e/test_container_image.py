"""deploy/Dockerfile, without a container engine: Debian 12 stages, a numeric non-root user,
the runtime packages against the libraries the built kpd links, the Vulkan loader and no GPU
driver, the build context (.dockerignore, every COPY source), and the image's command line run
through the real kpd."""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
from grpc_health.v1 import health_pb2

from conftest import KPD, REPO
from deploy_files import (
    port_of,
    stages,
    final_stage,
    of,
    final_user,
    exposed_ports,
    exec_form,
    image_listen_address,
    apt_packages,
    env_of,
    setup_apt_packages,
    ignored,
    write_temp,
    health,
    TcpKpd,
    HEALTH_SERVICE,
)


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
