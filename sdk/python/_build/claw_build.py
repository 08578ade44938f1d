"""The SDK's own PEP 517 build backend: a pure-Python wheel (and sdist) made with the standard library.

So ``pip install ./sdk/python`` works offline: pip's build isolation has nothing to download (the
backend needs no package). Name, version and Python requirement come from pyproject.toml's [project].
"""
from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile
from typing import Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "claw_sdk"


def _project() -> Dict[str, str]:
    """name, version, description, requires-python of [project] (plain `key = "value"` lines: no TOML parser before 3.11)."""
    text = open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8").read()
    table = re.search(r"^\[project\]\n(.*?)(?=^\[|\Z)", text, re.S | re.M)
    if not table:
        raise RuntimeError("pyproject.toml has no [project] table")
    fields = dict(re.findall(r'^([a-z-]+) = "([^"]*)"$', table.group(1), re.M))
    for key in ("name", "version", "requires-python"):
        if key not in fields:
            raise RuntimeError(f"pyproject.toml [project] lacks {key}")
    return fields


def _dist_name(p: Dict[str, str]) -> str:
    return f"{re.sub(r'[-_.]+', '_', p['name'])}-{p['version']}"


def _metadata(p: Dict[str, str]) -> bytes:
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    head = [
        "Metadata-Version: 2.1",
        f"Name: {p['name']}",
        f"Version: {p['version']}",
        f"Summary: {p.get('description', '')}",
        f"Requires-Python: {p['requires-python']}",
        "Description-Content-Type: text/markdown",
    ]
    return ("\n".join(head) + "\n\n" + readme).encode("utf-8")


def _sources() -> List[str]:
    """The package's files, relative to ROOT (no caches)."""
    found = []
    for folder, dirs, files in os.walk(os.path.join(ROOT, PACKAGE)):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if name.endswith((".py", ".typed")):
                found.append(os.path.relpath(os.path.join(folder, name), ROOT))
    return sorted(found)


def _wheel(directory: str, files: List[Tuple[str, bytes]]) -> str:
    p = _project()
    dist = _dist_name(p)
    info = f"{dist}.dist-info"
    files = files + [
        (f"{info}/METADATA", _metadata(p)),
        (f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: claw_build\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
    ]
    record = io.StringIO()
    for path, data in files:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.write(f"{path},sha256={digest},{len(data)}\n")
    record.write(f"{info}/RECORD,,\n")
    name = f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(directory, name), "w", zipfile.ZIP_DEFLATED) as z:
        for path, data in files + [(f"{info}/RECORD", record.getvalue().encode())]:
            z.writestr(zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0)), data)
    return name


def get_requires_for_build_wheel(config_settings: Optional[dict] = None) -> List[str]:
    return []


get_requires_for_build_sdist = get_requires_for_build_editable = get_requires_for_build_wheel


def build_wheel(wheel_directory: str, config_settings: Optional[dict] = None, metadata_directory: Optional[str] = None) -> str:
    return _wheel(wheel_directory, [(path, open(os.path.join(ROOT, path), "rb").read()) for path in _sources()])


def build_editable(wheel_directory: str, config_settings: Optional[dict] = None, metadata_directory: Optional[str] = None) -> str:
    # `pip install -e`: a .pth file puts this checkout on sys.path
    return _wheel(wheel_directory, [(f"{PACKAGE}.pth", (ROOT + "\n").encode())])


def build_sdist(sdist_directory: str, config_settings: Optional[dict] = None) -> str:
    dist = _dist_name(_project())
    name = f"{dist}.tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as tar:
        for path in ["pyproject.toml", "README.md", "_build/claw_build.py"] + _sources():
            tar.add(os.path.join(ROOT, path), arcname=f"{dist}/{path}")
        info = tarfile.TarInfo(f"{dist}/PKG-INFO")
        data = _metadata(_project())
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return name
