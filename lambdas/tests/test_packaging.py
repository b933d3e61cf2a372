"""The function folders are zipped as-is: runtime code only, no shared imports."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

LAMBDAS = Path(__file__).resolve().parent.parent
# What the Lambda runtime offers: the standard library, its boto3 (and
# botocore), and Pillow from the layer for compress.
ALLOWED = {"backup": {"boto3", "botocore"}, "compress": {"boto3", "botocore", "PIL"}}


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_function_folder_holds_only_runtime_code(folder):
    files = sorted(
        p.relative_to(LAMBDAS / folder).as_posix()
        for p in (LAMBDAS / folder).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )
    assert files == ["app.py"]


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_function_imports_only_stdlib_and_runtime_packages(folder):
    tree = ast.parse((LAMBDAS / folder / "app.py").read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports: each folder is zipped alone"
            imported.add(node.module.split(".")[0])
    outside = imported - set(sys.stdlib_module_names) - ALLOWED[folder]
    assert not outside, f"{folder}/app.py imports {outside}"


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_handler_exists(folder):
    tree = ast.parse((LAMBDAS / folder / "app.py").read_text(encoding="utf-8"))
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "handler" in functions


def test_tests_use_the_pillow_the_shipped_layer_pins():
    import re
    from importlib.metadata import version

    lab = (LAMBDAS.parent / "lab.yaml").read_text()
    pin = re.search(r"Pillow==([0-9.]+)", lab)
    assert pin, "lab.yaml pins no Pillow"
    assert version("Pillow") == pin.group(1)
