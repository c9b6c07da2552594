#!/usr/bin/env python3
"""Runs Kompute's own Python test suites against kpd, changed only in how shaders are sourced.

    .venv/bin/python tests/kompute/run_suites.py --kompute KOMPUTE_GIT_DIR \\
        [--versions v0.5.0,v0.6.0,v0.9.0] [--transports shared-memory,socket,tcp] [--keep]

For each Kompute tag it extracts python/test (and shaders/glsl, which v0.5/v0.6's tests read
as "../../shaders/glsl/opmult.comp") from the Kompute git directory into a temporary folder,
and rewrites, in that copy only:

* ``import pyshader as ps`` / ``from pyshader... import ...`` lines become an import of
  ``PyshaderFunction`` (tests/kompute/shaders.py, copied next to the tests as
  kp_kompute_shaders.py);
* each ``@python2shader``-decorated function becomes ``name = PyshaderFunction("name", tag)``,
  whose ``.to_spirv()`` returns kpd's compile of our GLSL for it;
* utils.py's ``compile_source`` (glslangValidator, v0.9) becomes ``kp.Shader.compile_source``.

Line numbers are kept (each replaced statement is padded with blank lines), so tracebacks point
at Kompute's lines. Nothing else in the tests changes. It then starts its own kpd (a Unix socket
and a TCP port on 127.0.0.1) and runs pytest on each suite once per transport:
shared-memory (KP_ADDRESS=unix:SOCK), socket (the same with KP_SHARED_MEMORY=0) and tcp
(KP_ADDRESS=127.0.0.1:PORT). It prints a line per tag x transport and each failure; exit status
0 only if every test passed (or was skipped), 1 otherwise, 2 if the Kompute directory or a tag is
missing.

Kompute's code is never copied into this repository: it is read at run time from a Kompute
checkout (``git clone https://github.com/KomputeProject/kompute``).
"""
from __future__ import annotations

import argparse
import ast
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
KPD = os.environ.get("KPD_BINARY", os.path.join(REPO, "build", "server", "kpd"))
PYTHON = os.path.join(REPO, ".venv", "bin", "python")
SHADERS_MODULE = "kp_kompute_shaders"  # tests/kompute/shaders.py, as the rewritten tests import it
HELPER = "_KpPyshaderFunction"

sys.path.insert(0, HERE)
import shaders  # noqa: E402  (tests/kompute/shaders.py)

DEFAULT_VERSIONS = ["v0.5.0", "v0.6.0", "v0.9.0"]
TRANSPORTS = ["shared-memory", "socket", "tcp"]


class HarnessError(Exception):
    """A fault of the harness or of its input (not of kp): the run stops."""


# ---------------------------------------------------------------- extraction from Kompute


def git(kompute: str, *args: str, binary: bool = False):
    result = subprocess.run(["git", "-C", kompute, *args], capture_output=True)
    if result.returncode != 0:
        raise HarnessError(f"git {' '.join(args)}: {result.stderr.decode(errors='replace')}")
    return result.stdout if binary else result.stdout.decode()


def check_kompute(kompute: str, versions: List[str]) -> Optional[str]:
    """Why `kompute` can't be used for `versions`, or None."""
    if not os.path.isdir(kompute):
        return f"Kompute git directory {kompute!r} does not exist"
    probe = subprocess.run(["git", "-C", kompute, "rev-parse", "--git-dir"], capture_output=True)
    if probe.returncode != 0:
        return f"{kompute!r} is not a git directory: {probe.stderr.decode().strip()}"
    for tag in versions:
        found = subprocess.run(["git", "-C", kompute, "rev-parse", "--verify", "--quiet",
                                f"{tag}^{{commit}}"], capture_output=True)
        if found.returncode != 0:
            return f"{kompute!r} has no tag {tag} (git fetch --tags)"
    return None


def extract_paths(kompute: str, tag: str, paths: List[str], dest: str, tests: str) -> str:
    """`paths` of `tag` under `dest`; returns dest/`tests`, which must be among them."""
    archive = git(kompute, "archive", "--format=tar", tag, "--", *paths, binary=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    test_dir = os.path.join(dest, tests)
    if not os.path.isdir(test_dir):
        raise HarnessError(f"{tag}: no {tests}/ folder")
    return test_dir


def extract(kompute: str, tag: str, dest: str) -> str:
    """python/test (and shaders/glsl where the tag has it) of `tag` under `dest`; returns the
    test folder."""
    paths = ["python/test"]
    if git(kompute, "ls-tree", "--name-only", tag, "shaders/glsl").strip():
        paths.append("shaders/glsl")
    return extract_paths(kompute, tag, paths, dest, "python/test")


# ---------------------------------------------------------------- rewriting shader sourcing


def _is_pyshader_module(name: Optional[str]) -> bool:
    return name is not None and (name == "pyshader" or name.startswith("pyshader."))


def _is_python2shader(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return (isinstance(target, ast.Name) and target.id == "python2shader") or (
        isinstance(target, ast.Attribute) and target.attr == "python2shader")


@dataclass
class Rewrite:
    text: str
    changes: List[str] = field(default_factory=list)


def _replace(lines: List[str], node: ast.stmt, first: int, new: str, where: str) -> None:
    """Replaces lines first..node.end_lineno (1-based) with `new` padded with empty lines,
    after checking that nothing else shares those lines."""
    start, end = first - 1, node.end_lineno - 1
    if lines[start][:node.col_offset].strip():
        raise HarnessError(f"{where}: something precedes the statement on line {first}")
    rest = lines[end][node.end_col_offset:].strip()
    if rest and not rest.startswith("#"):
        raise HarnessError(f"{where}: something follows the statement on line {end + 1}")
    indent = lines[start][:len(lines[start]) - len(lines[start].lstrip())]
    lines[start:end + 1] = [indent + new + "\n"] + ["\n"] * (end - start)


def rewrite_source(text: str, where: str, tag: str) -> Rewrite:
    """`text` (a Kompute test file) with its pyshader sourcing replaced; see the module doc."""
    tree = ast.parse(text, where)
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    edits: List[Tuple[int, ast.stmt, str, str]] = []  # (first line, node, new text, change)
    removed_names = set()
    saw_import = False

    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(_is_pyshader_module(a.name) for a in node.names):
            if not all(_is_pyshader_module(a.name) for a in node.names):
                raise HarnessError(f"{where}:{node.lineno}: pyshader imported with other modules")
            removed_names.update((a.asname or a.name.split(".")[0]) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and _is_pyshader_module(node.module):
            removed_names.update((a.asname or a.name) for a in node.names)
        else:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
                    _is_python2shader(d) for d in node.decorator_list):
                shaders.glsl_for(node.name, tag)  # raises if shaders.py lacks it
                first = min(d.lineno for d in node.decorator_list)
                edits.append((first, node, f'{node.name} = {HELPER}("{node.name}", "{tag}")',
                              f"@python2shader {node.name} -> GLSL (line {first})"))
            continue
        saw_import = True
        original = ast.get_source_segment(text, node).replace("\n", " ")
        edits.append((node.lineno, node,
                      f"from {SHADERS_MODULE} import PyshaderFunction as {HELPER}"
                      f"  # was: {original}", f"'{original}' (line {node.lineno})"))

    if any("python2shader" in c for *_, c in edits) and not saw_import:
        raise HarnessError(f"{where}: @python2shader without a pyshader import")

    # utils.compile_source (glslangValidator) -> kp.Shader.compile_source.
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "compile_source":
            first = min([d.lineno for d in node.decorator_list] + [node.lineno])
            edits.append((first, node,
                          "from kp import Shader as _KpShader; "
                          "compile_source = _KpShader.compile_source",
                          f"def compile_source -> kp.Shader.compile_source (line {first})"))

    # Nested statements first (a function inside a replaced one is gone with it anyway).
    edits.sort(key=lambda e: e[0], reverse=True)
    done: List[Tuple[int, int]] = []
    changes = []
    for first, node, new, change in edits:
        if any(a <= first and node.end_lineno <= b for a, b in done):
            continue
        _replace(lines, node, first, new, f"{where}:{first}")
        done.append((first, node.end_lineno))
        changes.append(change)
    result = "".join(lines)

    # Nothing may still use what the pyshader imports bound.
    new_tree = ast.parse(result, where)
    for node in ast.walk(new_tree):
        if isinstance(node, ast.Name) and node.id in removed_names:
            raise HarnessError(f"{where}:{node.lineno}: still uses pyshader's {node.id!r} "
                               "outside a @python2shader function")
    if len(result.splitlines()) != len(text.splitlines()):
        raise HarnessError(f"{where}: rewriting changed the line count")
    return Rewrite(result, sorted(changes))


def prepare_suite(kompute: str, tag: str, root: str) -> Tuple[str, List[str]]:
    """Extracts and rewrites `tag`'s tests under root/tag; returns (test dir, changes)."""
    dest = os.path.join(root, tag)
    test_dir = extract(kompute, tag, dest)
    changes = []
    for name in sorted(os.listdir(test_dir)):
        if not name.endswith(".py"):
            continue
        path = os.path.join(test_dir, name)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        rewritten = rewrite_source(text, f"{tag}:python/test/{name}", tag)
        if rewritten.text != text:
            with open(path, "w", encoding="utf-8") as f:
                f.write(rewritten.text)
            changes += [f"{name}: {c}" for c in rewritten.changes]
    return test_dir, changes


# ---------------------------------------------------------------- kpd


class Kpd:
    """Our own kpd on a private Unix socket and a free TCP port of 127.0.0.1."""

    def __init__(self, workdir: str):
        if not os.access(KPD, os.X_OK):
            raise HarnessError(f"kpd not found at {KPD}: build it first (scripts/setup)")
        self.socket = os.path.join(workdir, "kpd.sock")
        self.log_path = os.path.join(workdir, "kpd.log")
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [KPD, "--listen", "unix:" + self.socket, "--listen", "127.0.0.1:0",
             # "listening on ADDRESS (" lines, which name the TCP port kpd chose, are
             # logged at info level (--log-level warn would hide them).
             "--log-level", "info"],
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 30
        while True:
            listening = re.findall(r"listening on (\S+) \(", self.log())
            if len(listening) >= 2:
                break
            if self.process.poll() is not None or time.time() > deadline:
                self.stop()
                raise HarnessError(f"kpd did not start:\n{self.log()}")
            time.sleep(0.05)
        tcp = [a for a in listening if re.fullmatch(r"127\.0\.0\.1:\d+", a)]
        if not tcp or ("unix:" + self.socket) not in listening:
            self.stop()
            raise HarnessError(f"kpd's log names no expected addresses: {listening}")
        self.tcp = tcp[0]

    def log(self) -> str:
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def alive(self) -> bool:
        return self.process.poll() is None

    def env(self, transport: str) -> Dict[str, str]:
        if transport == "shared-memory":
            return {"KP_ADDRESS": "unix:" + self.socket}
        if transport == "socket":
            return {"KP_ADDRESS": "unix:" + self.socket, "KP_SHARED_MEMORY": "0"}
        if transport == "tcp":
            return {"KP_ADDRESS": self.tcp}
        raise ValueError(transport)

    def stop(self) -> Optional[int]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


# ---------------------------------------------------------------- pytest runs


@dataclass
class Outcome:
    test_id: str
    kind: str  # passed, failed, error, skipped
    message: str = ""


@dataclass
class RunResult:
    tag: str
    transport: str
    outcomes: List[Outcome]
    returncode: int
    log_path: str
    problem: str = ""  # no results at all: timed out, crashed, collected nothing

    def count(self, kind: str) -> int:
        return sum(1 for o in self.outcomes if o.kind == kind)


def _error_line(element: ET.Element) -> str:
    """One line for a junit <failure>/<error>: the last line of the final exception as pytest
    printed it ("E   Type: message" lines), else its message attribute's first line."""
    text = element.text or ""
    blocks: List[List[str]] = []
    previous_e = False
    for line in text.splitlines():
        is_e = line.startswith("E ")
        if is_e:
            if not previous_e:
                blocks.append([])
            blocks[-1].append(line[1:].strip())
        previous_e = is_e
    if blocks:
        # The final exception's block; its first line holds "Type: message", later ones
        # (assertion introspection, compiler messages) continue it.
        block = [line for line in blocks[-1] if line]
        head = block[0] if block else ""
        tail = block[-1] if len(block) > 1 else ""
        return head if not tail or tail == head else f"{head} ... {tail}"
    message = (element.get("message") or "").strip() or text.strip()
    return message.splitlines()[0] if message else ""


def parse_junit(path: str) -> List[Outcome]:
    outcomes = []
    for case in ET.parse(path).getroot().iter("testcase"):
        file = case.get("file") or case.get("classname", "").replace(".", "/") + ".py"
        test_id = f"python/test/{os.path.basename(file)}::{case.get('name')}"
        failure, error, skipped = case.find("failure"), case.find("error"), case.find("skipped")
        if failure is not None:
            outcomes.append(Outcome(test_id, "failed", _error_line(failure)))
        elif error is not None:
            outcomes.append(Outcome(test_id, "error", _error_line(error)))
        elif skipped is not None:
            outcomes.append(Outcome(test_id, "skipped", (skipped.get("message") or "").strip()))
        else:
            outcomes.append(Outcome(test_id, "passed"))
    return outcomes


def run_pytest(tag: str, test_dir: str, transport: str, kpd: Kpd, workdir: str,
               support_dir: str, timeout: float) -> RunResult:
    label = f"{tag}-{transport}"
    junit = os.path.join(workdir, f"{label}.xml")
    log_path = os.path.join(workdir, f"{label}.log")
    ini = os.path.join(workdir, "pytest.ini")
    if os.path.exists(os.path.join(test_dir, "__init__.py")):
        # A package (v0.9: "from .utils import ..."): pytest from its parent, on the package.
        cwd, target = os.path.dirname(test_dir), os.path.basename(test_dir)
    else:
        # v0.5's tests open "../../shaders/glsl/opmult.comp" relative to the working
        # directory, which Kompute's own layout makes python/test.
        cwd, target = test_dir, "."
    env = {k: v for k, v in os.environ.items() if k not in ("KP_ADDRESS", "KP_SHARED_MEMORY")}
    env.update(kpd.env(transport))
    env["PYTHONPATH"] = support_dir
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    command = [PYTHON, "-m", "pytest", "-c", ini, "--rootdir", cwd, "-p", "no:cacheprovider",
               "-o", "junit_family=xunit1", f"--junitxml={junit}", "-rfEs", "-v", target]
    problem = ""
    with open(log_path, "w") as log:
        log.write(f"$ cd {cwd} && {' '.join(k + '=' + v for k, v in kpd.env(transport).items())}"
                  f" {' '.join(command)}\n")
        log.flush()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            returncode = process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            returncode = process.wait()
            problem = f"timed out after {timeout:.0f} s (see {log_path})"
    outcomes = parse_junit(junit) if os.path.exists(junit) else []
    if not problem and not outcomes:
        problem = f"pytest exited {returncode} with no test results (see {log_path})"
    if not problem and returncode not in (0, 1):
        problem = f"pytest exited {returncode} (see {log_path})"
    return RunResult(tag, transport, outcomes, returncode, log_path, problem)


# ---------------------------------------------------------------- main


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kompute", default=os.environ.get("KOMPUTE_GIT_DIR"),
                        help="Kompute git directory with its tags (a clone, or a bare "
                             "repository); default: $KOMPUTE_GIT_DIR")
    parser.add_argument("--versions", default=",".join(DEFAULT_VERSIONS),
                        help="Kompute tags, comma-separated (default: %(default)s)")
    parser.add_argument("--transports", default=",".join(TRANSPORTS),
                        help="comma-separated, of %(default)s")
    parser.add_argument("--timeout", type=float, default=600,
                        help="seconds one suite on one transport may take (default 600)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work folder (rewritten tests, pytest logs, kpd.log)")
    args = parser.parse_args(argv)

    versions = [v.strip() for v in args.versions.split(",") if v.strip()]
    transports = [t.strip() for t in args.transports.split(",") if t.strip()]
    unknown = [t for t in transports if t not in TRANSPORTS]
    if unknown:
        parser.error(f"unknown transports {unknown}; choose among {TRANSPORTS}")
    if not args.kompute:
        print("run_suites: no Kompute git directory: pass --kompute DIR or set KOMPUTE_GIT_DIR "
              "(git clone https://github.com/KomputeProject/kompute)", file=sys.stderr)
        return 2
    why = check_kompute(args.kompute, versions)
    if why:
        print(f"run_suites: {why}", file=sys.stderr)
        return 2
    if not os.access(PYTHON, os.X_OK):
        print(f"run_suites: no {PYTHON}: run scripts/setup", file=sys.stderr)
        return 2

    workdir = tempfile.mkdtemp(prefix="kp-kompute-suites-")
    kpd = None
    try:
        support_dir = os.path.join(workdir, "support")
        os.makedirs(support_dir)
        shutil.copy(os.path.join(HERE, "shaders.py"),
                    os.path.join(support_dir, SHADERS_MODULE + ".py"))
        with open(os.path.join(workdir, "pytest.ini"), "w") as f:
            f.write("[pytest]\n")
        suites = {}
        for tag in versions:
            test_dir, changes = prepare_suite(args.kompute, tag, os.path.join(workdir, "suites"))
            suites[tag] = test_dir
            print(f"{tag}: rewrote {len(changes)} shader sources"
                  + "".join(f"\n    {c}" for c in changes))

        kpd = Kpd(workdir)
        print(f"kpd: unix:{kpd.socket} and {kpd.tcp}")
        results: List[RunResult] = []
        for tag in versions:
            for transport in transports:
                if not kpd.alive():
                    raise HarnessError(f"kpd exited ({kpd.process.returncode}):\n"
                                       f"{kpd.log()[-4000:]}")
                result = run_pytest(tag, suites[tag], transport, kpd, workdir, support_dir,
                                    args.timeout)
                results.append(result)
                print(f"{tag:8} {transport:14} passed {result.count('passed'):3}  "
                      f"failed {result.count('failed'):3}  errors {result.count('error'):3}  "
                      f"skipped {result.count('skipped'):3}"
                      + (f"  ** {result.problem}" if result.problem else ""), flush=True)
        if not kpd.alive():
            print(f"kpd exited ({kpd.process.returncode}) during the runs")

        ok = kpd.alive()
        bad = [(r, o) for r in results for o in r.outcomes if o.kind in ("failed", "error")]
        if bad:
            print("\nFailures:")
            for r, o in bad:
                print(f"  [{r.tag} {r.transport}] {o.kind.upper()} {o.test_id}\n      {o.message}")
        skipped = [(r, o) for r in results for o in r.outcomes if o.kind == "skipped"]
        if skipped:
            print("\nSkipped:")
            for r, o in skipped:
                print(f"  [{r.tag} {r.transport}] {o.test_id}: {o.message}")
        warnings = [line for line in kpd.log().splitlines()
                    if re.search(r"^\S+ \S+ (warn\w*|error|critical) ", line)]
        if warnings:
            print(f"\nkpd logged {len(warnings)} warnings or errors; the last ones:")
            for line in warnings[-15:]:
                print("  " + line[:300])
        ok = ok and not bad and all(not r.problem for r in results)
        print("\n" + ("all passed" if ok else "FAILED")
              + (f"; work folder kept: {workdir}" if args.keep else ""))
        return 0 if ok else 1
    except HarnessError as error:
        print(f"run_suites: {error}", file=sys.stderr)
        return 2
    finally:
        if kpd is not None:
            kpd.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
