"""Installs LocalStack with squall's Lambda runtime executor into a virtualenv of its own.

LocalStack pins dependencies of its own, so it never shares squall's environment. This file uses
the standard library only: ``make test`` runs it as a script before squall itself is built.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

#: The LocalStack release squall's executor plugin is written against and tested with.
LOCALSTACK_VERSION = "4.13.1"
HERE = Path(__file__).resolve().parent
#: Versions of LocalStack's dependencies that work together with it (found on Python 3.11).
CONSTRAINTS = HERE / "constraints.txt"
#: The plugin's source: LocalStack discovers it through its entry point once installed.
PLUGIN = HERE / "plugin"
#: Written last into a finished virtualenv; its text is what was installed.
MARKER = ".squall-localstack"


def python_of(venv: Path) -> Path:
    """The interpreter of virtualenv ``venv``."""
    return venv / "bin" / "python"


def installed(venv: Path) -> bool:
    """Whether ``venv`` holds this LocalStack and this plugin, fully installed."""
    marker = venv / MARKER
    return marker.exists() and marker.read_text() == _fingerprint()


def _fingerprint() -> str:
    sources = sorted(p for p in PLUGIN.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    plugin = "".join(p.read_text() for p in sources)
    return f"localstack-core {LOCALSTACK_VERSION}\n{CONSTRAINTS.read_text()}{plugin}"


def install(venv: Path, python: str = sys.executable, quiet: bool = True) -> Path:
    """Makes ``venv`` (with ``python``) and installs LocalStack and the plugin into it; does
    nothing when they are there already. Returns the virtualenv's interpreter."""
    if installed(venv):
        return python_of(venv)
    (venv / MARKER).unlink(missing_ok=True)
    if not python_of(venv).exists():
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
    pip = [str(python_of(venv)), "-m", "pip", "install", *(["--quiet"] if quiet else [])]
    subprocess.run(
        [*pip, f"localstack-core[runtime]=={LOCALSTACK_VERSION}", "-c", str(CONSTRAINTS)],
        check=True,
    )
    # Built from a copy: pip writes build files next to the sources it is given.
    with tempfile.TemporaryDirectory(prefix="squall-plugin-") as tmp:
        source = shutil.copytree(
            PLUGIN,
            Path(tmp) / "plugin",
            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"),
        )
        subprocess.run([*pip, "--no-deps", "--force-reinstall", str(source)], check=True)
    (venv / MARKER).write_text(_fingerprint())
    return python_of(venv)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} VIRTUALENV")
    install(Path(sys.argv[1]))
