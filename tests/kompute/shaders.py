"""Our GLSL for the pyshader (``@python2shader``) functions of Kompute's Python tests.

Kompute's tests at v0.5.0, v0.6.0 and v0.9.0 write some shaders in Python with pyshader, which
does not run on Python 3.11. run_suites.py replaces each such function, in the copy of the
tests it runs, with ``PyshaderFunction(name, version)``: its ``.to_spirv()`` returns the SPIR-V
that kpd compiles from the GLSL here, so the tests' call sites stay as they are.

Each shader is written from what the pyshader function computes, in pyshader's conventions:
the ``("buffer", n, Array(f32))`` arguments are storage buffers at set 0, binding n (the order
the tests pass the tensors in), ``("input", "GlobalInvocationId", ivec3)`` and its siblings are
the built-ins cast to ivec3, and the local size is 1 x 1 x 1 (pyshader's, for compute).

``SHADERS`` maps a function's name to its shader; ``VERSIONED`` maps (name, Kompute tag) to
one where a tag's function of that name computes something else (none do so far).
"""
from __future__ import annotations

from typing import Dict, NamedTuple, Optional, Tuple


class Glsl(NamedTuple):
    doc: str  # what it computes
    source: str  # GLSL, #version 450


_MULTIPLY = Glsl(
    doc="data3[i] = data1[i] * data2[i] for i = gl_GlobalInvocationID.x (element-wise product "
    "of bindings 0 and 1 into binding 2).",
    source="""#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer Data1 { float data1[]; };
layout(set = 0, binding = 1) buffer Data2 { float data2[]; };
layout(set = 0, binding = 2) buffer Data3 { float data3[]; };

void main() {
    int i = ivec3(gl_GlobalInvocationID).x;
    data3[i] = data1[i] * data2[i];
}
""")

SHADERS: Dict[str, Glsl] = {
    # v0.5.0 test_kompute.py::test_pyshader_pyshader, v0.6.0 test_array_multiplication.py.
    "compute_shader_multiply": _MULTIPLY,
    # v0.9.0 test_array_multiplication.py.
    "compute_mult": _MULTIPLY,
    # v0.5.0 test_kompute.py::test_logistic_regression_pyshader, v0.6.0 and v0.9.0
    # test_logistic_regression.py (the same function in all three).
    "compute_shader": Glsl(
        doc="One logistic-regression step per sample i = gl_GlobalInvocationID.x: with "
        "m = M[0], w = (w_in[0], w_in[1]), b = b_in[0], x = (x_i[i], x_j[i]), "
        "y_hat = sigmoid(w.x + b); writes the gradient parts w_out_i[i], w_out_j[i] = "
        "(1/m) * x * (y_hat - y[i]), b_out[i] = (1/m) * (y_hat - y[i]) and the loss l_out[i] "
        "as the original writes it: -(y*log(y_hat) + (1 + y)*log(1 - y_hat)).",
        source="""#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer XI { float x_i[]; };
layout(set = 0, binding = 1) buffer XJ { float x_j[]; };
layout(set = 0, binding = 2) buffer Y { float y[]; };
layout(set = 0, binding = 3) buffer WIn { float w_in[]; };
layout(set = 0, binding = 4) buffer WOutI { float w_out_i[]; };
layout(set = 0, binding = 5) buffer WOutJ { float w_out_j[]; };
layout(set = 0, binding = 6) buffer BIn { float b_in[]; };
layout(set = 0, binding = 7) buffer BOut { float b_out[]; };
layout(set = 0, binding = 8) buffer LOut { float l_out[]; };
layout(set = 0, binding = 9) buffer MBuf { float M[]; };

void main() {
    int i = ivec3(gl_GlobalInvocationID).x;

    float m = M[0];

    vec2 w_curr = vec2(w_in[0], w_in[1]);
    float b_curr = b_in[0];

    vec2 x_curr = vec2(x_i[i], x_j[i]);
    float y_curr = y[i];

    float z_dot = dot(w_curr, x_curr);
    float z = z_dot + b_curr;
    float y_hat = 1.0 / (1.0 + exp(-z));

    float d_z = y_hat - y_curr;
    vec2 d_w = (1.0 / m) * x_curr * d_z;
    float d_b = (1.0 / m) * d_z;

    float loss = -((y_curr * log(y_hat)) + ((1.0 + y_curr) * log(1.0 - y_hat)));

    w_out_i[i] = d_w.x;
    w_out_j[i] = d_w.y;
    b_out[i] = d_b;
    l_out[i] = loss;
}
"""),
    # v0.9.0 test_kompute.py::test_workgroup.
    "compute_shader_wg": Glsl(
        doc="For workgroup (x, y) of a (16, 8, 1) dispatch, i = x * gl_NumWorkGroups.y + y: "
        "data1[i] = gl_GlobalInvocationID.x, data2[i] = gl_GlobalInvocationID.y (as floats).",
        source="""#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer Data1 { float data1[]; };
layout(set = 0, binding = 1) buffer Data2 { float data2[]; };

void main() {
    // The Python arguments gl_idx, gl_wg_id, gl_wg_num (GLSL reserves the gl_ prefix).
    ivec3 idx = ivec3(gl_GlobalInvocationID);
    ivec3 wg_id = ivec3(gl_WorkGroupID);
    ivec3 wg_num = ivec3(gl_NumWorkGroups);
    int i = wg_id.x * wg_num.y + wg_id.y;
    data1[i] = float(idx.x);
    data2[i] = float(idx.y);
}
"""),
}

VERSIONED: Dict[Tuple[str, str], Glsl] = {}


def glsl_for(name: str, version: Optional[str] = None) -> Glsl:
    """The shader that stands for pyshader function `name` of Kompute tag `version`."""
    if version is not None and (name, version) in VERSIONED:
        return VERSIONED[(name, version)]
    if name not in SHADERS:
        raise KeyError(f"no GLSL for pyshader function {name!r} (Kompute {version}): "
                       "add it to tests/kompute/shaders.py")
    return SHADERS[name]


class PyshaderFunction:
    """Stands for a ``@python2shader`` function: ``to_spirv()`` compiles our GLSL for it with
    ``kp.Shader.compile_source`` (so with kpd, found as kp.Manager finds it) and returns the
    SPIR-V bytes, as pyshader's ShaderModule.to_spirv() did."""

    def __init__(self, name: str, version: Optional[str] = None):
        self.name = name
        self.version = version
        self.glsl = glsl_for(name, version)
        self._spirv: Optional[bytes] = None

    def to_spirv(self) -> bytes:
        if self._spirv is None:
            import kp

            self._spirv = kp.Shader.compile_source(self.glsl.source)
        return self._spirv

    def __repr__(self) -> str:
        return f"<PyshaderFunction {self.name} (GLSL, Kompute {self.version})>"
