"""SPIR-V of the shaders the seed example uses, read from the build of shaders/.

`mult_shader` is shaders/multiply.comp (out = lhs * rhs) and `sum_shader` is shaders/sum.comp
(out = lhs + rhs), compiled to build/shaders/*.spv by the CMake build. Set $KP_SHADER_DIR to
read them from elsewhere.
"""
import os

_SHADER_DIR = os.environ.get(
    "KP_SHADER_DIR",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "shaders"),
)


def _spirv(name: str) -> bytes:
    path = os.path.join(_SHADER_DIR, name + ".spv")
    with open(path, "rb") as f:
        return f.read()


mult_shader = _spirv("multiply")
sum_shader = _spirv("sum")
