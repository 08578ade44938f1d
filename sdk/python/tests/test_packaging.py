"""The package as pip builds it: its own backend makes a wheel of exactly the SDK's modules, with the
version the code says and the Python it needs; the sources parse as Python 3.9."""
from __future__ import annotations

import ast
import importlib.util
import os
import zipfile

import claw_sdk

ROOT = os.path.join(os.path.dirname(__file__), "..")


def backend():
    spec = importlib.util.spec_from_file_location("claw_build", os.path.join(ROOT, "_build", "claw_build.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_wheel(tmp_path) -> None:
    b = backend()
    assert b.get_requires_for_build_wheel() == [], "nothing to download: pip install works offline"
    name = b.build_wheel(str(tmp_path))
    assert name == f"claw_sdk-{claw_sdk.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(tmp_path / name) as z:
        names = set(z.namelist())
        metadata = z.read(f"claw_sdk-{claw_sdk.__version__}.dist-info/METADATA").decode()
    modules = {f"claw_sdk/{m}" for m in os.listdir(os.path.join(ROOT, "claw_sdk")) if m.endswith((".py", ".typed"))}
    assert {n for n in names if n.startswith("claw_sdk/")} == modules
    assert f"Version: {claw_sdk.__version__}" in metadata and "Requires-Python: >=3.9" in metadata
    assert b.build_sdist(str(tmp_path)).endswith(".tar.gz")


def test_the_sources_are_python_3_9() -> None:
    for folder in ("claw_sdk", "_build"):
        for m in os.listdir(os.path.join(ROOT, folder)):
            if m.endswith(".py"):
                source = open(os.path.join(ROOT, folder, m), encoding="utf-8").read()
                ast.parse(source, m, feature_version=(3, 9))
                assert source.startswith('"""') and "from __future__ import annotations" in source or m == "__init__.py", m
