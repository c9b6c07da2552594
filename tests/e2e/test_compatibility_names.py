"""Every name of Kompute's Python API (kompute_api.py) exists in kp, and README's table "Every
Kompute Python name" lists each exactly once with a status: the table cannot drift from the
code. No daemon needed."""
from __future__ import annotations

import os
import re
from typing import Dict, List

import pytest

import kp
from kp.legacy.sequence import ManagedSequence
from conftest import REPO
from kompute_api import V05_06, V07, V08_09

# What each of Kompute's Python classes is in kp, by era: v0.5/0.6 sequences are those of
# mgr.create_sequence; v0.8/0.9's those of mgr.sequence().
CLASSES_05_06 = {"Manager": kp.Manager, "Sequence": ManagedSequence, "Tensor": kp.Tensor,
                 "TensorTypes": kp.TensorTypes}
CLASSES_07_09 = {"Manager": kp.Manager, "Sequence": kp.Sequence, "Tensor": kp.Tensor,
                 "TensorTypes": kp.TensorTypes, "Algorithm": kp.Algorithm,
                 "OpAlgoDispatch": kp.OpAlgoDispatch, "OpBase": kp.OpBase, "OpMult": kp.OpMult,
                 "OpTensorCopy": kp.OpTensorCopy, "OpTensorSyncDevice": kp.OpTensorSyncDevice,
                 "OpTensorSyncLocal": kp.OpTensorSyncLocal, "Shader": kp.Shader}


def resolve(name: str, classes: Dict[str, object]) -> object:
    owner, _, member = name.partition(".")
    if owner not in classes:
        return getattr(kp, owner)  # a module-level function (log_level)
    return getattr(classes[owner], member) if member else classes[owner]


@pytest.mark.parametrize("name", V05_06)
def test_v05_06_name_exists(name):
    assert resolve(name, CLASSES_05_06) is not None


@pytest.mark.parametrize("name", V07 + V08_09)
def test_v07_09_name_exists(name):
    assert resolve(name, CLASSES_07_09) is not None


def readme_table() -> List[List[str]]:
    with open(os.path.join(REPO, "README.md")) as f:
        text = f.read()
    section = text.split("### Every Kompute Python name", 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[1:]]


def test_readme_lists_every_name_once_with_a_status():
    listed: List[str] = []
    for era, names, status in readme_table():
        assert status, f"no status for {names}"
        prefix = "v0.5/0.6 " if era.startswith("v0.5") else ""
        listed += [prefix + n for n in re.findall(r"`([\w.]+)`", names)]
    expected = ["v0.5/0.6 " + n for n in V05_06] + V07 + V08_09
    assert sorted(listed) == sorted(expected)
