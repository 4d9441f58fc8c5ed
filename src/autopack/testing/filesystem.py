"""A snapshot of a folder tree, to prove that an operation wrote nothing anywhere."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def snapshot(folder: Path) -> dict[str, str]:
    """Every path under `folder` (symlinks not followed) with its type and content hash."""
    state: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            relative = str(path.relative_to(folder))
            if path.is_symlink():
                state[relative] = f"link:{os.readlink(path)}"
            elif path.is_dir():
                state[relative] = "dir"
            else:
                state[relative] = (
                    hashlib.sha256(path.read_bytes()).hexdigest() + f":{oct(path.stat().st_mode)}"
                )
    return state
