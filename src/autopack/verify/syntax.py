"""The ladder's first rung: changed files that do not even parse, found without running anything."""

from __future__ import annotations

import ast
import json
import tomllib
from collections.abc import Iterable
from pathlib import Path


def syntax_errors(root: Path, changed: Iterable[str]) -> list[str]:
    """One line per changed Python, JSON or TOML file that does not parse: path, line, reason."""
    errors: list[str] = []
    for path in sorted(changed):
        target = root / path
        if not target.is_file():
            continue
        text = target.read_text(encoding="utf-8", errors="replace")
        try:
            if path.endswith(".py"):
                ast.parse(text, filename=path)
            elif path.endswith(".json"):
                json.loads(text)
            elif path.endswith(".toml"):
                tomllib.loads(text)
        except SyntaxError as error:
            errors.append(f"{path}:{error.lineno}: {error.msg}")
        except (json.JSONDecodeError, tomllib.TOMLDecodeError, ValueError) as error:
            errors.append(f"{path}: {error}")
    return errors
