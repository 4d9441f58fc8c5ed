"""Rules on a path's name alone: what any entry, from any source, must satisfy to be written.

Names are judged as every filesystem a clone may land on would read them, not only as Linux does:
NTFS drops trailing dots and spaces and knows 8.3 short names and alternate data streams, HFS+
ignores some Unicode code points and folds case. A name that any of them would turn into `.git`
(or `.gitmodules`) is refused here on every platform, whatever git's own `core.protect*` say.
"""

from __future__ import annotations

import posixpath
import re
import unicodedata
from fnmatch import fnmatchcase

from autopack.errors import PolicyViolation

MAX_COMPONENT_BYTES = 255
MAX_PATH_BYTES = 4_096

# Code points HFS+ ignores when it compares names (git's is_hfs_dotgit list).
_HFS_IGNORABLE = dict.fromkeys(
    [
        *range(0x200C, 0x2010),
        *range(0x202A, 0x202F),
        *range(0x206A, 0x2070),
        0xFEFF,
    ]
)
# NTFS 8.3 short names git refuses: GIT~1 for .git, GI7EAB~N / GITMOD~N for .gitmodules.
_NTFS_SHORT = re.compile(r"^(git~\d+|gi7eab[0-9a-f]?~\d+|gitmod~\d+)$")


def _ntfs_fold(component: str) -> str:
    """What NTFS opens for this name: alternate data stream dropped, trailing dots and spaces too."""
    name = component.split(":", 1)[0]
    return name.rstrip(" .").casefold()


def _hfs_fold(component: str) -> str:
    return component.translate(_HFS_IGNORABLE).casefold()


def folded(component: str) -> str:
    """One spelling per name as case-insensitive, ignorable-dropping, dot-trimming filesystems see it."""
    return _ntfs_fold(_hfs_fold(unicodedata.normalize("NFC", component)))


def is_git_name(component: str) -> bool:
    """True for every spelling git's NTFS or HFS+ protection would treat as `.git` or `.gitmodules`."""
    name = folded(component)
    return name in (".git", ".gitmodules") or bool(_NTFS_SHORT.match(name))


def normalised_path(raw: str) -> str:
    """The repo-relative POSIX path `raw` names, or a PolicyViolation saying which rule it breaks."""
    if not raw or not raw.strip():
        raise PolicyViolation(raw or "(empty)", "path.empty", "the path is empty")
    if any(ord(char) < 32 or 0x7F <= ord(char) < 0xA0 for char in raw):
        raise PolicyViolation(
            repr(raw), "path.control_characters", "the path contains control characters"
        )
    if any(0xD800 <= ord(char) < 0xE000 for char in raw):
        raise PolicyViolation(repr(raw), "path.encoding", "the path is not valid UTF-8")
    if "\\" in raw:
        raise PolicyViolation(raw, "path.backslash", "backslashes are not allowed in paths")
    if raw.startswith("/") or raw.startswith("~") or (len(raw) > 1 and raw[1] == ":"):
        raise PolicyViolation(raw, "path.absolute", "absolute paths are not allowed")
    if ".." in raw.split("/"):
        raise PolicyViolation(raw, "path.traversal", "'..' is not allowed in paths")
    normal = posixpath.normpath(raw)
    if normal in (".", "") or normal.startswith("../"):
        raise PolicyViolation(
            raw, "path.outside_repo", "the path does not name a file inside the repository"
        )
    parts = normal.split("/")
    if any(is_git_name(part) for part in parts):
        raise PolicyViolation(
            raw,
            "path.git_internals",
            "nothing under .git (or a name a filesystem reads as .git or .gitmodules) may be written",
        )
    if len(normal.encode()) > MAX_PATH_BYTES:
        raise PolicyViolation(
            raw[:80] + "…", "path.too_long", f"the path is over {MAX_PATH_BYTES} bytes"
        )
    if any(len(part.encode()) > MAX_COMPONENT_BYTES for part in parts):
        raise PolicyViolation(
            raw[:80] + "…",
            "path.too_long",
            f"a name in the path is over {MAX_COMPONENT_BYTES} bytes",
        )
    return normal


def protected_by(path: str, globs: tuple[str, ...]) -> str | None:
    """The glob protecting `path`, matched as written and as case- and dot-folding filesystems read it."""
    spellings = {path, "/".join(folded(part) for part in path.split("/"))}
    for glob in globs:
        patterns = {glob, glob.casefold()}
        for pattern in patterns:
            for spelling in spellings:
                if fnmatchcase(spelling, pattern) or fnmatchcase(
                    spelling, pattern.removesuffix("/**")
                ):
                    return glob
    return None
