"""Localisation benchmark: does the repo map put the files a change needs in front of the model?

Issue cases (the default): bench/localize_cases.jsonl holds real issue reports (title and body) and
the non-test source files their accepted fixes changed (bench/localize_cases.py tells how it was
built). The task text is the report; the map is built on the fix's parent, from the mirror that
`fetch` brought to /work/.mirror/<owner>+<name>/repo. Four systems side by side: "map" (the
reference graph's PageRank alone, the map before fusion), "bm25" (BM25 over file contents alone,
its files rendered the same way), "fusion" (what RepoMap.rank does now) and Aider's map.

History cases (--repo PATH): each non-merge commit whose message has at least 8 words and that
modifies 1-3 existing non-test source files (.py .js .ts .tsx .go) and adds none. The commit
message is the task text; the files it modified are the answer. The map is built on the parent
commit's tree. For each case and system we record the order in which files appear in the map text
(what a model actually sees), then recall@1 and recall@5 over those, the map's tokens (o200k, the
same counter for both) and the seconds to build it. Autopack's full ranking (beyond what fits in
the text) is reported too.

Aider's repo map runs beside ours from its own virtualenv, never from the project's dependencies:

    python3 -m venv bench/.venv-aider
    bench/.venv-aider/bin/pip install 'aider-chat==0.86.2' 'tree-sitter-language-pack==0.13.0'

Run: .venv/bin/python bench/localize.py [--cases-file bench/localize_cases.jsonl]
     [--repo /path/to/clone-or-bare-mirror ...] [--cases 30] [--budget 1024]
     [--aider-python bench/.venv-aider/bin/python] [--json]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from autopack.builder.repomap import RepoMap
from autopack.builder.repomap.fusion import definitions_in_file_order
from autopack.builder.repomap.rank import rank_tags
from autopack.builder.repomap.render import fit_to_budget
from autopack.llm.tokens import count_tokens

SOURCE_SUFFIXES = {".py", ".js", ".ts", ".tsx", ".go"}
DEFAULT_AIDER_PYTHON = Path(__file__).parent / ".venv-aider" / "bin" / "python"
DEFAULT_CASES = Path(__file__).parent / "localize_cases.jsonl"
MIRRORS = Path("/work/.mirror")

# Runs inside Aider's virtualenv: reads one JSON request a line, answers one JSON line each.
AIDER_WORKER = r'''
import json, re, sys, time, traceback
from aider.io import InputOutput
from aider.repomap import RepoMap

class CharModel:
    """Aider asks its model for token counts; a chars/4 estimate keeps it offline."""
    def token_count(self, text):
        return len(text) // 4

# Aider prints its warnings to stdout: keep that for the answers, one JSON line each.
answers, sys.stdout = sys.stdout, sys.stderr
for line in sys.stdin:
    request = json.loads(line)
    started = time.monotonic()
    try:
        io = InputOutput(yes=True, pretty=False, fancy_input=False)
        repo_map = RepoMap(
            map_tokens=request["budget"], root=request["root"], main_model=CharModel(), io=io
        )
        words = set(w for w in re.split(r"\W+", request["query"]) if w)
        names = {f for f in request["files"] if f.rsplit("/", 1)[-1] in request["query"]}
        text = repo_map.get_ranked_tags_map(
            [], [request["root"] + "/" + f for f in request["files"]],
            max_map_tokens=request["budget"], mentioned_fnames=names, mentioned_idents=words,
        ) or ""
        error = None
    except Exception:
        text, error = "", traceback.format_exc(limit=3)
    answer = {"text": text, "seconds": time.monotonic() - started, "error": error}
    print(json.dumps(answer), file=answers, flush=True)
'''


@dataclass(frozen=True)
class Case:
    repo: str
    commit: str
    parent: str
    message: str
    changed: tuple[str, ...]
    git: Path | None = None  # where the parent's tree is read from


def issue_cases(path: Path) -> list[Case]:
    cases = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        cases.append(
            Case(
                row["repo"],
                row["commit"],
                row["parent"],
                f"{row['title']}\n\n{row['body']}",
                tuple(row["changed"]),
                MIRRORS / row["repo"].replace("/", "+") / "repo",
            )
        )
    return cases


@dataclass
class Score:
    cases: int = 0
    at1: list[float] = field(default_factory=list)
    at5: list[float] = field(default_factory=list)
    ranked_at5: list[float] = field(default_factory=list)
    in_map: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def add(self, order: list[str], changed: tuple[str, ...], text: str, seconds: float) -> None:
        self.cases += 1
        self.at1.append(len(set(order[:1]) & set(changed)) / len(changed))
        self.at5.append(len(set(order[:5]) & set(changed)) / len(changed))
        self.in_map.append(len(set(order) & set(changed)) / len(changed))
        self.tokens.append(count_tokens(text))
        self.seconds.append(seconds)

    def row(self) -> dict[str, float | int | None]:
        def mean(values: list[float] | list[int]) -> float | None:
            return round(statistics.fmean(values), 3) if values else None

        return {
            "cases": self.cases,
            "recall@1": mean(self.at1),
            "recall@5": mean(self.at5),
            "ranked_recall@5": mean(self.ranked_at5),
            "recall_in_map": mean(self.in_map),
            "mean_tokens": mean(self.tokens),
            "mean_seconds": mean(self.seconds),
        }


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", f"--git-dir={_git_dir(repo)}", *args], capture_output=True, text=True, check=True
    ).stdout


def _git_dir(repo: Path) -> Path:
    return repo / ".git" if (repo / ".git").exists() else repo


def _is_test(path: str) -> bool:
    pure = PurePosixPath(path)
    parts = {part.lower() for part in pure.parts[:-1]}
    name = pure.name.lower()
    return (
        bool(parts & {"test", "tests", "testing", "__tests__", "spec"})
        or name.startswith("test_")
        or name.endswith(("_test.go", "_test.py", ".test.ts", ".test.js", ".spec.ts", ".spec.js"))
    )


def select_cases(repo: Path, limit: int) -> list[Case]:
    log = _git(
        repo, "log", "--no-merges", "-n", "3000", "--format=%x1e%H %P%x1f%B%x1f", "--name-status"
    )
    cases = []
    for record in log.split("\x1e")[1:]:
        head, message, files = [*record.split("\x1f"), "", ""][:3]
        ids = head.split()
        if len(ids) != 2 or len(message.split()) < 8:
            continue
        modified, added = [], []
        for line in files.strip().splitlines():
            status, _, path = line.partition("\t")
            if PurePosixPath(path).suffix not in SOURCE_SUFFIXES or _is_test(path):
                continue
            (modified if status == "M" else added).append(path)
        if added or not 1 <= len(modified) <= 3:
            continue
        cases.append(Case(repo.name, ids[0], ids[1], message.strip(), tuple(sorted(modified))))
        if len(cases) >= limit:
            break
    return cases


def materialise(repo: Path, commit: str, into: Path) -> list[str]:
    archive = subprocess.run(
        ["git", f"--git-dir={_git_dir(repo)}", "archive", "--format=tar", commit],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return sorted(p.relative_to(into).as_posix() for p in into.rglob("*") if p.is_file())


def files_in_map(text: str, files: set[str]) -> list[str]:
    """File headers in map text, in order: lines naming a file, with or without a colon."""
    order: list[str] = []
    for line in text.splitlines():
        candidate = line.strip().rstrip(":")
        if candidate in files and candidate not in order:
            order.append(candidate)
    return order


class AiderWorker:
    def __init__(self, python: Path):
        self.process = subprocess.Popen(
            [str(python), "-c", AIDER_WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={
                "PATH": "/usr/bin:/bin",
                "HOME": tempfile.mkdtemp(prefix="aider-home-"),
                "AIDER_ANALYTICS": "false",
                "AIDER_CHECK_UPDATE": "false",
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            },
        )

    def rank(self, root: Path, files: list[str], query: str, budget: int) -> tuple[str, float]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        request = {"root": str(root), "files": files, "query": query, "budget": budget}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            raise RuntimeError("the Aider worker stopped (see its stderr above)")
        reply = json.loads(answer)
        if reply.get("error"):
            print(f"Aider failed on {root}: {reply['error']}", file=sys.stderr)
        return reply["text"], reply["seconds"]

    def close(self) -> None:
        self.process.terminate()


def run_systems(root: Path, query: str, budget: int) -> dict[str, tuple[str, float, list[str]]]:
    """(map text, seconds, full ranking) for the graph alone, BM25 alone and the fusion.

    The graph alone and the fusion each build on a fresh RepoMap, so their seconds include
    parsing the tree, as a Builder's first map does; BM25 reuses the fusion's parsed tree.
    """
    results: dict[str, tuple[str, float, list[str]]] = {}
    started = time.monotonic()
    graph_map = RepoMap(root)
    tags = graph_map.tags()
    ranking = rank_tags(tags, query)
    text, _ = fit_to_budget(ranking.definitions, graph_map._lines, tags, budget)
    graph_files = [path for path, _ in ranking.files]
    results["map"] = (text, time.monotonic() - started, graph_files)
    started = time.monotonic()
    fused_map = RepoMap(root)
    fused = fused_map.rank(query, token_budget=budget)
    results["fusion"] = (fused.text, time.monotonic() - started, list(fused.files))
    started = time.monotonic()
    tags = fused_map.tags()
    lexical = fused_map.lexical_index(sorted(tags)).ranked(query)
    definitions = definitions_in_file_order(lexical, (), tags, query)
    text, _ = fit_to_budget(definitions, fused_map._lines, tags, budget)
    results["bm25"] = (text, time.monotonic() - started, lexical)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--cases-file", type=Path, default=DEFAULT_CASES, help="issue cases (the default)"
    )
    parser.add_argument(
        "--repo",
        type=Path,
        action="append",
        help="history cases from a clone or bare mirror instead (repeatable)",
    )
    parser.add_argument(
        "--cases", type=int, default=30, help="newest qualifying commits per repository"
    )
    parser.add_argument("--budget", type=int, default=1024, help="map token budget")
    parser.add_argument("--aider-python", type=Path, default=DEFAULT_AIDER_PYTHON)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    aider = AiderWorker(args.aider_python) if args.aider_python.exists() else None
    if aider is None:
        print(
            f"Aider's repo map skipped: {args.aider_python} not found (see this script's docstring)",
            file=sys.stderr,
        )
    scores: dict[tuple[str, str], Score] = {}
    jobs: list[tuple[str, Path, Case]] = []
    if args.repo:
        for repo in args.repo:
            name = repo.parent.name if repo.name == "repo" else repo.name
            jobs += [(name, repo, case) for case in select_cases(repo, args.cases)]
    else:
        for case in issue_cases(args.cases_file):
            assert case.git is not None
            if not case.git.is_dir():
                print(f"skipped {case.repo}: no mirror at {case.git}", file=sys.stderr)
                continue
            jobs.append((case.repo.split("/")[-1], case.git, case))
    for name, repo, case in jobs:
        # Aider leaves its tag cache in the tree; a straggling write must not fail the run.
        with tempfile.TemporaryDirectory(prefix="localize-", ignore_cleanup_errors=True) as folder:
            root = Path(folder)
            try:
                files = materialise(repo, case.parent, root)
            except subprocess.CalledProcessError:
                print(f"skipped {name} {case.parent[:10]}: tree incomplete", file=sys.stderr)
                continue
            sources = [f for f in files if PurePosixPath(f).suffix in SOURCE_SUFFIXES]
            for system, (text, seconds, ranked) in run_systems(
                root, case.message, args.budget
            ).items():
                score = scores.setdefault((name, system), Score())
                score.add(files_in_map(text, set(files)), case.changed, text, seconds)
                score.ranked_at5.append(
                    len(set(ranked[:5]) & set(case.changed)) / len(case.changed)
                )
            if aider is not None:
                text, seconds = aider.rank(root, sources, case.message, args.budget)
                scores.setdefault((name, "aider"), Score()).add(
                    files_in_map(text, set(files)), case.changed, text, seconds
                )
    if aider is not None:
        aider.close()
    overall: dict[str, Score] = {}
    for (_, system), score in scores.items():
        total = overall.setdefault(system, Score())
        total.cases += score.cases
        for name in ("at1", "at5", "ranked_at5", "in_map", "tokens", "seconds"):
            getattr(total, name).extend(getattr(score, name))
    rows = [
        {"repo": repo, "system": system, **score.row()}
        for (repo, system), score in sorted(scores.items())
    ]
    rows += [
        {"repo": "ALL", "system": system, **score.row()}
        for system, score in sorted(overall.items())
    ]
    if args.json:
        print(json.dumps({"budget": args.budget, "rows": rows}, indent=2))
        return
    print(f"map budget {args.budget} tokens; R@k over files in the order the map text shows them,")
    print(
        "inMap over all files the map shows (Aider prints its chosen files alphabetically, so its"
    )
    print("R@k is not its ranking: compare inMap); rankR@5 = Autopack's full ranking")
    header = f"{'repo':<16}{'system':<10}{'cases':>6}{'R@1':>8}{'R@5':>8}{'inMap':>8}{'rankR@5':>10}{'tokens':>10}{'s/map':>8}"
    print(header)
    for row in rows:
        keys = (
            "cases",
            "recall@1",
            "recall@5",
            "recall_in_map",
            "ranked_recall@5",
            "mean_tokens",
            "mean_seconds",
        )
        cells = ["-" if row[key] is None else str(row[key]) for key in keys]
        widths = (6, 8, 8, 8, 10, 10, 8)
        line = "".join(f"{cell:>{width}}" for cell, width in zip(cells, widths, strict=True))
        print(f"{row['repo']:<16}{row['system']:<10}{line}")


if __name__ == "__main__":
    main()
