"""The entries git records between two trees: exact path bytes, modes, sizes, content kind.

This, not any parse of diff text, is what the write policy judges: a name with spaces, a mode
line credited to the wrong file or a prefix changed by the user's configuration cannot make the
two disagree, because there is only one reader.
"""

from __future__ import annotations

from pathlib import Path

from autopack.errors import GitError
from autopack.workspace.base import Entry
from autopack.workspace.gitcmd import failure, run_git

_BLOB_MODES = ("100644", "100755", "120000")
# As git decides "binary" for a diff: a NUL in the first 8,000 bytes.
_BINARY_PROBE = 8_000


def _git(cwd: Path, *args: str, input_bytes: bytes | None = None) -> bytes:
    completed = run_git(args, cwd, input_bytes=input_bytes)
    if completed.returncode != 0:
        raise GitError(failure(args, completed))
    return completed.stdout


def decode_path(raw: bytes) -> str:
    """Git paths are bytes; undecodable ones keep their bytes as surrogates for the policy to refuse."""
    return raw.decode("utf-8", "surrogateescape")


def _raw_records(cwd: Path, base: str, tree: str) -> list[tuple[str, str, str, str, str]]:
    out = _git(cwd, "diff-tree", "-r", "-z", "--raw", "--no-renames", "--no-ext-diff", base, tree)
    fields = out.split(b"\0")
    records = []
    index = 0
    while index + 1 < len(fields) and fields[index].startswith(b":"):
        old_mode, new_mode, _old_oid, new_oid, status = fields[index][1:].decode().split(" ")
        records.append((old_mode, new_mode, new_oid, status[:1], decode_path(fields[index + 1])))
        index += 2
    return records


def _numstat(cwd: Path, base: str, tree: str) -> dict[str, tuple[int, int] | None]:
    """Added and removed lines per path; None where git counted none because it took it as binary."""
    out = _git(
        cwd, "diff-tree", "-r", "-z", "--numstat", "--no-renames", "--no-textconv", base, tree
    )
    counts: dict[str, tuple[int, int] | None] = {}
    for record in filter(None, out.split(b"\0")):
        added, removed, path = record.split(b"\t", 2)
        counts[decode_path(path)] = (
            (int(added), int(removed)) if added.isdigit() and removed.isdigit() else None
        )
    return counts


def _blobs(cwd: Path, oids: list[str], read_cap: int) -> dict[str, tuple[int, bytes | None]]:
    """Each blob's size, and its content while the total read stays under `read_cap` bytes."""
    if not oids:
        return {}
    checked = _git(cwd, "cat-file", "--batch-check", input_bytes="\n".join(oids).encode() + b"\n")
    sizes: dict[str, int] = {}
    for line in checked.decode().splitlines():
        listed, _kind, listed_size = line.split(" ")
        sizes[listed] = int(listed_size)
    readable = []
    total = 0
    for oid in oids:
        total += sizes[oid]
        if total <= read_cap:
            readable.append(oid)
    contents: dict[str, bytes] = {}
    if readable:
        batch = _git(cwd, "cat-file", "--batch", input_bytes="\n".join(readable).encode() + b"\n")
        position = 0
        for oid in readable:
            header_end = batch.index(b"\n", position)
            length = int(batch[position:header_end].split(b" ")[2])
            contents[oid] = batch[header_end + 1 : header_end + 1 + length]
            position = header_end + 1 + length + 1
    return {oid: (sizes[oid], contents.get(oid)) for oid in oids}


def tree_entries(cwd: Path, base: str, tree: str, read_cap: int) -> tuple[Entry, ...]:
    """Every path that differs between `base` and `tree`, as git will record it."""
    records = _raw_records(cwd, base, tree)
    counts = _numstat(cwd, base, tree)
    wanted = sorted({oid for _, mode, oid, _, _ in records if mode in _BLOB_MODES})
    blobs = _blobs(cwd, wanted, read_cap)
    entries = []
    for old_mode, new_mode, oid, status, path in records:
        size, content = blobs.get(oid, (0, b""))
        binary = content is not None and b"\0" in content[:_BINARY_PROBE]
        counted = counts.get(path)
        added, removed = counted if counted is not None else (0, 0)
        if counted is None and content:
            # Git counted nothing (binary content, or an attribute such as `-diff` hid the text):
            # every line of the new content counts as changed.
            added = content.count(b"\n") + (0 if content.endswith(b"\n") else 1)
        entries.append(
            Entry(
                path=path,
                status=status,
                old_mode=old_mode,
                new_mode=new_mode,
                size=size if status != "D" else 0,
                binary=binary,
                added_lines=added,
                removed_lines=removed,
                symlink_target=decode_path(content)
                if new_mode == "120000" and content is not None
                else None,
            )
        )
    return tuple(entries)
