"""Installs the `kp` Python client: `pip install .` at the repository root.

The gRPC stubs of proto/kp/v1/*.proto are generated into the build tree while the package
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


def protobuf_requirement() -> str:
    """Generated code needs a protobuf runtime at least as new as the generator's: require the
    version that grpcio-tools was installed with in this build environment."""
    try:
        from importlib.metadata import version as installed

        installed("grpcio-tools")
        major, minor = installed("protobuf").split(".")[:2]
        return f"protobuf>={major}.{minor}"
    except Exception:  # no grpcio-tools here: metadata-only commands such as `--version`
        return "protobuf>=4.21"


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
    name="kp",
    version=version(),
    description="Kompute's Python API with the GPU in the kpd daemon (gRPC client)",
    long_description=open(os.path.join(HERE, "README.md"), encoding="utf-8").read()
    if os.path.exists(os.path.join(HERE, "README.md"))
    else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.9",
    package_dir={"": "client-python"},
    packages=["kp", "kp.legacy"],
    package_data={"kp": ["py.typed"]},
    install_requires=["grpcio>=1.51", protobuf_requirement(), "numpy>=1.21"],
    entry_points={"console_scripts": ["kpctl = kp.kpctl:main"]},
    cmdclass={"build_py": BuildPyWithProtos},
    zip_safe=False,
)
