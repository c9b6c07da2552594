"""Installs the `kp` Python client: `pip install .` at the repository root.

The distribution is named `kpd-client` (the name `kp` on the public index is Kompute's own);
the import name is `kp`. The gRPC stubs of proto/kp/v1/*.proto are generated into the build tree while the package
is built (never committed), as the subpackage `kp.v1`.
"""
import os
import re
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.path.join(HERE, "proto")
PROTO_FILES = ["kp/v1/types.proto", "kp/v1/compute.proto", "kp/v1/local.proto"]


def runtime_requirements() -> list:
    """The grpcio and protobuf the generated stubs need, read from the generator that built
    them: grpcio-tools pins the protobuf it generates for, and stubs from grpcio-tools >= 1.63
    refuse a grpcio runtime older than themselves. A published wheel is built with the oldest
    grpcio-tools we support (pyproject.toml), so it installs beside grpcio >= 1.51.3 and
    protobuf >= 4.21."""
    try:
        from importlib.metadata import requires, version as installed

        tools = installed("grpcio-tools").split(".")
        # The generator's own lower bound on protobuf is the oldest runtime its code runs on.
        floors = [
            re.search(r">=\s*([0-9.]+)", line)
            for line in requires("grpcio-tools") or []
            if line.startswith("protobuf")
        ]
        protobuf = next(m.group(1) for m in floors if m).split(".")
    except Exception:  # no grpcio-tools here: metadata-only commands such as `--version`
        tools, protobuf = ["1", "51", "3"], ["4", "21", "6"]
    grpc_floor = ".".join(tools[:3])
    # protobuf's runtime reads generated code of its own major version and the previous
    # ones; the next major is untested, so it is excluded (the test of the distribution
    # installs the newest release).
    return [
        f"grpcio>={grpc_floor}",
        f"protobuf>={'.'.join(protobuf[:3])},<8",
        "numpy>=1.21",
    ]


class BuildPyWithProtos(build_py):
    """build_py that also runs grpc_tools.protoc into the build directory."""

    def run(self) -> None:
        # Start from an empty package: a module removed from the source must not linger in
        # the wheel from an earlier build.
        shutil.rmtree(os.path.join(self.build_lib, "kp"), ignore_errors=True)
        super().run()
        from grpc_tools import protoc  # available through pyproject's build requirements
        import grpc_tools

        well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
        args = [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"-I{well_known}",
            f"--python_out={self.build_lib}",
            f"--pyi_out={self.build_lib}",
            f"--grpc_python_out={self.build_lib}",
        ] + [os.path.join(PROTO_ROOT, name) for name in PROTO_FILES]
        if protoc.main(args) != 0:
            raise RuntimeError("grpc_tools.protoc failed to generate the kp.v1 stubs")
        init = os.path.join(self.build_lib, "kp", "v1", "__init__.py")
        with open(init, "w", encoding="utf-8") as f:
            f.write('"""Generated kp.v1 protocol stubs (built from proto/kp/v1)."""\n')


def version() -> str:
    with open(os.path.join(HERE, "client-python", "kp", "_version.py"), encoding="utf-8") as f:
        return re.search(r'__version__ = "([^"]+)"', f.read()).group(1)


setup(
    name="kpd-client",
    version=version(),
    description="Kompute's Python API with the GPU in the kpd daemon (gRPC client)",
    long_description=open(os.path.join(HERE, "README.md"), encoding="utf-8").read()
    if os.path.exists(os.path.join(HERE, "README.md"))
    else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.9",
    classifiers=[
        "License :: OSI Approved :: Apache Software License",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.9",
        "Programming Language :: Python :: 3.13",
        "Topic :: Scientific/Engineering",
        "Typing :: Typed",
    ],
    package_dir={"": "client-python"},
    packages=["kp", "kp.legacy"],
    package_data={"kp": ["py.typed"]},
    install_requires=runtime_requirements(),
    entry_points={"console_scripts": ["kpctl = kp.kpctl:main"]},
    cmdclass={"build_py": BuildPyWithProtos},
    zip_safe=False,
)
