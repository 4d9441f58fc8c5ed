"""The map's first look: BM25 over the files fused with the reference graph's PageRank."""

from __future__ import annotations

from pathlib import Path

from autopack.builder.agent import first_look_query
from autopack.builder.base import BuildRequest, Feedback, FeedbackKind
from autopack.builder.repomap import RepoMap
from autopack.builder.repomap.chunks import DefinitionIndex
from autopack.builder.repomap.fusion import code_before_tests, fuse
from autopack.builder.repomap.lexical import LexicalIndex, tokens_of
from autopack.builder.repomap.mentions import defining_files, mentioned_files
from autopack.builder.repomap.rank import rank_tags
from autopack.llm.tokens import count_tokens
from autopack.testing.git_repos import git
from autopack.testing.runs import phase_strategy
from autopack.workspace.base import Worktree

# A report names an error message and an option, never a definition or a file: only the words
# inside config/encoding.py match it. The other files reference one another heavily, so the
# reference graph alone sends the walk there.
TREE = {
    "core/engine.py": (
        "from core.registry import Registry\nfrom core.hooks import run_hooks\n\n"
        "class Engine:\n    def start(self):\n        run_hooks(Registry())\n\n"
        "    def stop(self):\n        run_hooks(Registry())\n"
    ),
    "core/registry.py": (
        "from core.hooks import run_hooks\n\n"
        "class Registry:\n    def register(self, plugin):\n        run_hooks(self)\n"
    ),
    "core/hooks.py": "def run_hooks(target):\n    return target\n",
    "config/encoding.py": (
        '"""Reading the settings file."""\n\n'
        "def detect(raw):\n"
        "    if raw.startswith(b'\\xef\\xbb\\xbf'):\n"
        "        raise ValueError('unsupported byte order mark in settings file')\n"
        "    return 'utf-8'\n"
    ),
    "web/app.ts": (
        "import { Engine } from './engine';\n"
        "export class Dashboard {\n  show(engine: Engine): string { return '' }\n}\n"
    ),
}

REPORT = (
    "Crash on startup: 'unsupported byte order mark in settings file' when the settings "
    "were saved by Notepad"
)


def _tree(root: Path) -> None:
    for name, text in TREE.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "tree")


def test_tokens_split_identifiers_and_drop_filler_words() -> None:
    tokens = tokens_of("The autodoc_typehints option of TypeVar is ignored")
    assert {"autodoc_typehints", "autodoc", "typehints", "typevar", "type", "var"} <= set(tokens)
    assert "the" not in tokens
    assert "of" not in tokens


def test_the_lexical_index_ranks_by_the_reports_words_and_breaks_ties_by_path() -> None:
    index = LexicalIndex(
        {
            "b.py": tokens_of("settings file byte order mark"),
            "a.py": tokens_of("settings file byte order mark"),
            "c.py": tokens_of("engine registry hooks"),
            "empty.py": [],
        }
    )
    assert index.ranked("byte order mark") == ["a.py", "b.py"]
    assert index.scores("nothing in common") == {}


def test_a_file_only_its_words_point_to_comes_first(git_repo: Path) -> None:
    _tree(git_repo)
    repo_map = RepoMap(git_repo)
    graph_alone = [path for path, _ in rank_tags(repo_map.tags(), REPORT).files]
    assert graph_alone[0] != "config/encoding.py"
    ranked = repo_map.rank(REPORT, token_budget=1024)
    assert ranked.files[0] == "config/encoding.py"
    assert ranked.text.startswith("config/encoding.py:\n")
    assert "def detect(raw):" in ranked.text


def test_the_graphs_signal_still_counts(git_repo: Path) -> None:
    _tree(git_repo)
    # The phase's scope restarts the walk at web/: no word of the report is there.
    ranked = RepoMap(git_repo).rank(REPORT, focus_paths=["web/"])
    assert ranked.files[:2] == ("config/encoding.py", "web/app.ts")


def test_a_file_high_in_both_rankings_beats_one_first_in_only_one() -> None:
    lexical = ["only_words.py", "both.py", "x.py"]
    graph = ["only_graph.py", "both.py", "y.py"]
    fused = [path for path, _ in fuse([(lexical, 1.0), (graph, 1.0)], k=10)]
    assert fused[0] == "both.py"
    assert fused[1:3] == ["only_graph.py", "only_words.py"]  # equal scores: by path


def test_the_fused_map_keeps_to_its_budget(git_repo: Path) -> None:
    _tree(git_repo)
    for budget in (20, 60, 400):
        ranked = RepoMap(git_repo).rank(REPORT, token_budget=budget)
        assert 0 < ranked.tokens <= budget
        assert ranked.tokens == count_tokens(ranked.text)


def test_the_same_tree_and_task_give_the_same_map(git_repo: Path) -> None:
    _tree(git_repo)
    first = RepoMap(git_repo).rank(REPORT, token_budget=300)
    second = RepoMap(git_repo).rank(REPORT, token_budget=300)
    assert first == second


def test_an_earlier_attempts_traceback_points_the_next_first_look(git_repo: Path) -> None:
    _tree(git_repo)
    phase = phase_strategy("Make startup robust", description="Startup must not crash.")
    worktree = Worktree(path=git_repo, base_commit=git(git_repo, "rev-parse", "HEAD").strip())
    failed = Feedback(
        kind=FeedbackKind.TEST_FAILURE,
        summary="tests failed: test_startup",
        detail=(
            'File "config/encoding.py", line 5, in detect\n'
            "ValueError: unsupported byte order mark in settings file"
        ),
    )
    first = BuildRequest(phase=phase, worktree=worktree, attempt=1)
    second = BuildRequest(phase=phase, worktree=worktree, attempt=2, feedback=(failed,))
    repo_map = RepoMap(git_repo)
    assert repo_map.rank(first_look_query(first), token_budget=1024).files[0] != (
        "config/encoding.py"
    )
    assert repo_map.rank(first_look_query(second), token_budget=1024).files[0] == (
        "config/encoding.py"
    )


# A second tree for the mention and test-file signals: three modules an issue could be about, a
# test that repeats the report's words, and a hub the others import (the graph's favourite).
PACKAGE = {
    "pkg/__init__.py": "from pkg.hub import Hub\n",
    "pkg/hub.py": "class Hub:\n    def route(self, item):\n        return item\n",
    "pkg/io/ascii/__init__.py": "from pkg.hub import Hub\n",
    "pkg/io/ascii/rst.py": (
        "from pkg.hub import Hub\n\nclass RST:\n    def write(self, lines):\n"
        "        return Hub().route(lines)\n"
    ),
    "pkg/io/ascii/ui.py": (
        "from pkg.hub import Hub\n\ndef get_writer(writer, header_rows=None):\n"
        '    """Header rows: name, unit."""\n'
        "    return Hub().route(writer)\n"
    ),
    "pkg/stats/regression.py": (
        "from pkg.hub import Hub\n\nclass PolyFit:\n    def fit(self, x, y):\n"
        "        return Hub().route((x, y))\n"
    ),
    "pkg/plot.py": (
        "from pkg.hub import Hub\n\ndef plot(data):\n"
        '    """Plot data; see polyfit, the polyfit stat, and polyfit options."""\n'
        "    return Hub().route(data)\n"
    ),
    "pkg/text/markup.py": (
        "def render(text):\n"
        '    """Render ascii rst text: rst header rows, rst unit and name rows, ascii rst tables."""\n'
        "    return text\n"
    ),
    "tests/test_rst.py": (
        "from pkg.io.ascii.rst import RST\n\n"
        "def test_header_rows_unit_name():\n"
        "    assert RST().write(['header_rows', 'unit', 'name', 'header_rows'])\n"
    ),
}


def _package(root: Path) -> None:
    for name, text in PACKAGE.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "package")


def test_a_traceback_from_an_installed_copy_names_the_trees_file() -> None:
    files = ["pkg/io/ascii/ui.py", "pkg/io/ascii/rst.py", "pkg/hub.py", "other/ui.py"]
    report = (
        'File "/usr/lib/python3/dist-packages/pkg/io/ascii/ui.py", line 856, in write\n'
        "    writer = get_writer(Writer=Writer)"
    )
    assert mentioned_files(report, files) == ["pkg/io/ascii/ui.py", "other/ui.py"]


def test_a_dotted_module_names_its_file_and_only_the_longest_prefix_counts() -> None:
    files = [
        "src/pkg/ext/viewcode.py",
        "src/pkg/ext/__init__.py",
        "src/pkg/ext/autodoc/__init__.py",
    ]
    assert mentioned_files("extensions: pkg.ext.viewcode", files) == ["src/pkg/ext/viewcode.py"]
    assert mentioned_files("with pkg.ext.autodoc.Documenter", files) == [
        "src/pkg/ext/autodoc/__init__.py"
    ]
    assert mentioned_files("tbl.write(format='ascii.rst')", ["pkg/io/ascii/rst.py"]) == [
        "pkg/io/ascii/rst.py"
    ]
    assert mentioned_files("nothing named here", files) == []


def test_a_name_few_files_define_points_at_them_first() -> None:
    definitions = {
        "stats/regression.py": {"PolyFit", "fit"},
        "plot.py": {"Plot", "add"},
        "marks.py": {"Line", "add"},
        "scales.py": {"Scale", "add"},
    }
    ranked = defining_files("p.add(so.PolyFit()) fails", definitions)
    assert ranked == ["stats/regression.py", "marks.py", "plot.py", "scales.py"]
    assert defining_files("no quoted names", definitions) == []


def test_a_file_scores_as_its_best_definition() -> None:
    # a.py has a dozen definitions that each share one word with the report; b.py has one that
    # shares most of them. Summed, a.py would lead; its best definition does not.
    documents = {f"filler{i}.py": [tokens_of(f"engine registry part {i}")] for i in range(20)}
    documents["a.py"] = [tokens_of(f"caching layer {i} keeps results") for i in range(12)]
    documents["b.py"] = [tokens_of("cached_eval: string evaluation caching keyed by the string")]
    assert DefinitionIndex(documents).ranked("incorrect caching of string evaluation")[:2] == [
        "b.py",
        "a.py",
    ]


def test_test_files_follow_the_code_in_a_lexical_ranking() -> None:
    ranking = ["tests/test_rst.py", "pkg/rst.py", "test_cli.py", "pkg/ui.py", "web/a.spec.ts"]
    assert code_before_tests(ranking) == [
        "pkg/rst.py",
        "pkg/ui.py",
        "tests/test_rst.py",
        "test_cli.py",
        "web/a.spec.ts",
    ]


def test_the_class_a_report_quotes_leads_and_the_test_repeating_its_words_follows_the_code(
    git_repo: Path,
) -> None:
    _package(git_repo)
    report = "RST write drops header_rows unit name"
    repo_map = RepoMap(git_repo)
    words_alone = repo_map.lexical_index(sorted(repo_map.tags())).ranked(report)
    assert words_alone.index("tests/test_rst.py") < words_alone.index("pkg/io/ascii/ui.py")
    ranked = repo_map.rank(report, token_budget=1024)
    # pkg/text/markup.py says "rst" most often; RST is defined in pkg/io/ascii/rst.py alone.
    assert ranked.files[0] == "pkg/io/ascii/rst.py"
    assert ranked.text.startswith("pkg/io/ascii/rst.py:\n")
    assert "tests/test_rst.py" not in ranked.files[:3]
