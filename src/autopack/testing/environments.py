"""A caller's environment for tests: a real virtual environment with a copy of a package
installed in it, as `pip install` would leave one where Autopack is started."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path


def caller_environment(folder: Path, package: str, init_text: str) -> Path:
    """A venv (without pip) whose site-packages holds `package` with `init_text` as its code."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    purelib = sysconfig.get_path("purelib", vars={"base": str(folder), "platbase": str(folder)})
    (Path(purelib) / package).mkdir(parents=True)
    (Path(purelib) / package / "__init__.py").write_text(init_text, encoding="utf-8")
    return folder
