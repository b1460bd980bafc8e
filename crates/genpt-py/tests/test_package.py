"""The package as installed: where it came from, and that its type stubs and docstrings cover
what the native module exports."""

import ast
import os
import subprocess
from pathlib import Path

import pytest

import genpt
from conftest import REPO

PACKAGE = REPO / "crates/genpt-py/python/genpt"


def test_installed_from_the_wheel_of_this_checkout():
    """.ci/run builds the wheel and installs it into a fresh venv (GENPT_PY_INSTALLED=1): the
    module must come from that venv's site-packages, built from this commit."""
    if os.environ.get("GENPT_PY_INSTALLED") != "1":
        pytest.skip("not run from an installed wheel (.ci/run sets GENPT_PY_INSTALLED=1)")
    location = Path(genpt.__file__).resolve()
    assert "site-packages" in location.parts, location
    assert PACKAGE not in location.parents
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("no git to read the commit from")
    assert genpt.BUILD_COMMIT.split("-")[0] == head


def stub_names(tree):
    names = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names[node.name] = {
                item.name
                for item in node.body
                if isinstance(item, ast.FunctionDef) and not item.name.startswith("__")
            }
        elif isinstance(node, ast.FunctionDef):
            names[node.name] = None
        elif isinstance(node, ast.AnnAssign):
            names[node.target.id] = None
    return names


def test_type_stubs_match_the_native_module():
    stubs = stub_names(ast.parse((PACKAGE / "_genpt.pyi").read_text()))
    native = genpt._genpt
    exported = {n for n in dir(native) if not n.startswith("__") or n == "__version__"}
    exported.discard("_genpt")
    assert set(stubs) == exported
    for cls, methods in stubs.items():
        if methods is None:
            continue
        actual = {m for m in dir(getattr(native, cls)) if not m.startswith("_")}
        inherited = set(dir(Exception)) if issubclass(getattr(native, cls), Exception) else set()
        assert methods == actual - inherited, cls


def test_every_public_call_has_a_docstring():
    for name in genpt.__all__:
        value = getattr(genpt, name)
        if callable(value):
            assert value.__doc__ and value.__doc__.strip(), name
        if isinstance(value, type) and not issubclass(value, Exception):
            for member in dir(value):
                if not member.startswith("_"):
                    assert getattr(value, member).__doc__, f"{name}.{member}"
