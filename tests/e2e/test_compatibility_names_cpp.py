"""Every name of Kompute's C++ API (kompute_cpp_api.py) is listed once in README's table
"Every Kompute C++ name", and each name the table marks as provided is used, with its result
checked, in tests/client-cpp/kompute_names_test.cc (tagged `// kompute: Name`), which CTest
builds and runs: the table cannot claim a name that does not compile and work. No daemon
needed."""
from __future__ import annotations

import os
import re
from typing import List, Set, Tuple

from conftest import REPO
from kompute_cpp_api import V05_06, V08_09

NAMES_TEST = os.path.join(REPO, "tests", "client-cpp", "kompute_names_test.cc")


def readme_rows() -> List[Tuple[str, List[str], str]]:
    with open(os.path.join(REPO, "README.md")) as f:
        text = f.read()
    section = text.split("### Every Kompute C++ name", 1)[1].split("\n#", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    rows = []
    for line in lines[1:]:
        era, names, status = [cell.strip() for cell in line.strip("|").split("|")]
        rows.append((era, re.findall(r"`([\w:\[\]]+)`", names), status))
    return rows


def tagged_names() -> Set[str]:
    tags: Set[str] = set()
    with open(NAMES_TEST) as f:
        for line in f:
            match = re.match(r"\s*// kompute: (.*)", line)
            if match:
                tags.update(match.group(1).split())
    return tags


def test_readme_lists_every_name_once_with_a_status():
    listed = []
    for era, names, status in readme_rows():
        assert status.startswith(("yes", "no")), f"status of {names}: {status!r}"
        prefix = "v0.5/0.6 " if era == "v0.5/0.6" else ""
        listed += [prefix + n for n in names]
    expected = ["v0.5/0.6 " + n for n in V05_06] + list(V08_09)
    assert sorted(listed) == sorted(expected)


def test_names_marked_yes_are_exactly_those_the_cpp_test_uses():
    provided = {n for era, names, status in readme_rows() if status.startswith("yes")
                for n in names if era == "v0.8/0.9"}
    assert provided == tagged_names()


def test_the_names_test_is_built_by_ctest():
    with open(os.path.join(REPO, "tests", "client-cpp", "CMakeLists.txt")) as f:
        cmake = f.read()
    assert "*_test.cc" in cmake  # the glob that builds kompute_names_test.cc into the suite
