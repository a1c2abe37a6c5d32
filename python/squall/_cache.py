"""Where squall keeps what it can build again: ``$SQUALL_CACHE_DIR``, else
``$XDG_CACHE_HOME/squall`` (``~/.cache/squall``)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(name: str) -> Path:
    """The cache folder ``name`` (not made here)."""
    if own := os.environ.get("SQUALL_CACHE_DIR"):
        return Path(own) / name
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "squall" / name
