"""The squall wheel to deploy when none is given: rebuilt from the installed distribution's own
files, which are the wheel's files when squall was installed from a wheel (its RECORD lists
them). Lambda can take it when that wheel was built for its Linux (manylinux2014)."""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from pathlib import Path

#: Entries' timestamp: the same installed files give the same bytes (and deploy's hash).
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)

#: Files pip adds at install time: not part of the wheel.
_INSTALL_ONLY = ("INSTALLER", "REQUESTED", "direct_url.json", "RECORD")


def installed_wheel(out_dir: Path) -> Path:
    """A wheel of the installed squall, written under ``out_dir``.

    Raises:
        ValueError: squall was not installed from a wheel (an editable or source install).
    """
    import importlib.metadata  # only here: importing it costs `import squall` 20 ms

    dist = importlib.metadata.distribution("squall")
    direct = dist.read_text("direct_url.json")
    if direct and json.loads(direct).get("dir_info", {}).get("editable"):
        raise ValueError(
            "squall is installed in editable mode, so there is no wheel to ship: build one "
            "for Lambda's Linux (maturin build --zig --compatibility manylinux2014) and pass "
            "wheel='dist/squall-...whl' or set SQUALL_WHEEL"
        )
    tags = [
        line.split(":", 1)[1].strip()
        for line in (dist.read_text("WHEEL") or "").splitlines()
        if line.startswith("Tag:")
    ]
    if not tags or dist.files is None:
        raise ValueError(
            "this squall was not installed from a wheel (no WHEEL tags or RECORD): pass "
            "wheel='dist/squall-...whl' (built with `make wheel`) or set SQUALL_WHEEL"
        )
    python, abi, _ = tags[0].split("-", 2)
    platforms = [t.split("-", 2)[2] for t in tags if t.startswith(f"{python}-{abi}-")]
    name = f"squall-{dist.version}-{python}-{abi}-{'.'.join(platforms)}.whl"
    info = f"squall-{dist.version}.dist-info"
    record: list[str] = []
    path = out_dir / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(dist.files, key=str):
            arcname = file.as_posix()
            parts = Path(arcname).parts
            skip = arcname.startswith("..") or "__pycache__" in parts or arcname.endswith(".pyc")
            if skip or (parts[0] == info and parts[-1] in _INSTALL_ONLY):
                continue
            data = Path(str(file.locate())).read_bytes()
            entry = zipfile.ZipInfo(arcname, _ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            zf.writestr(entry, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{arcname},sha256={digest.decode()},{len(data)}")
        record.append(f"{info}/RECORD,,")
        entry = zipfile.ZipInfo(f"{info}/RECORD", _ZIP_TIME)
        entry.external_attr = 0o644 << 16
        zf.writestr(entry, "\n".join(record) + "\n")
    return path
