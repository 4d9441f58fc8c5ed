"""Phase issue files and the run index: de-duplicated by issue_key, written atomically, read strictly."""

from __future__ import annotations

from pathlib import Path

import pytest

from autopack.domain.issues import PhaseIssue
from autopack.domain.vocabulary import IssueSource, IssueState, Severity
from autopack.errors import IssueFileError
from autopack.issues.phase_issue_file import (
    PhaseIssueFile,
    add_issue,
    phase_issue_path,
    read_phase_issue_file,
    write_phase_issue_file,
)
from autopack.issues.run_issue_index import build_run_index, read_run_index, write_run_index


def issue(key: str, severity: Severity = Severity.MINOR, **fields: object) -> PhaseIssue:
    return PhaseIssue.model_validate(
        {
            "issue_key": key,
            "severity": severity,
            "effective_severity": severity,
            "source": IssueSource.TEST,
            "category": "test_failure",
            "first_seen_run": "run-1",
            "last_seen_run": "run-1",
            **fields,
        }
    )


def phase_file(phase_id: str, position: int, tier_id: str, *issues: PhaseIssue) -> PhaseIssueFile:
    file = PhaseIssueFile(run_id="run-1", tier_id=tier_id, phase_id=phase_id, position=position)
    for item in issues:
        file = add_issue(file, item)
    return file


def test_phase_file_path_follows_the_playbook(tmp_path: Path) -> None:
    assert (
        phase_issue_path(tmp_path, "run-1", 3, "api")
        == tmp_path / "run-1" / "phase_03_api_issues.json"
    )


def test_same_key_in_a_phase_is_one_issue_seen_more_often() -> None:
    file = phase_file(
        "a",
        1,
        "1",
        issue("t:flaky", evidence_refs=("log1",)),
        issue("t:flaky", Severity.MAJOR, evidence_refs=("log2",)),
        issue("t:other"),
    )
    assert [i.issue_key for i in file.issues] == ["t:flaky", "t:other"]
    flaky = file.issues[0]
    assert (flaky.occurrence_count, flaky.severity, flaky.evidence_refs) == (
        2,
        Severity.MAJOR,
        ("log1", "log2"),
    )
    assert (file.minor_count, file.major_count, file.issue_state) == (1, 1, IssueState.OPEN)


def test_phase_file_round_trips_and_counts_are_written(tmp_path: Path) -> None:
    file = phase_file("a", 1, "1", issue("t:x"), issue("t:y", Severity.MAJOR))
    path = write_phase_issue_file(tmp_path, file)
    assert read_phase_issue_file(path) == file
    text = path.read_text()
    assert '"minor_count": 1' in text
    assert '"major_count": 1' in text
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_malformed_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "phase_01_a_issues.json"
    original = b'{"run_id": "run-1", "issues": [{"issue_key": "BAD KEY"}]}'
    path.write_bytes(original)
    with pytest.raises(IssueFileError) as caught:
        read_phase_issue_file(path)
    assert str(path) in str(caught.value)
    assert path.read_bytes() == original
    path.write_bytes(b"{not json")
    with pytest.raises(IssueFileError, match="not a valid phase issue file"):
        read_phase_issue_file(path)


def test_run_index_counts_distinct_keys_across_phases(tmp_path: Path) -> None:
    files = [
        phase_file("a", 1, "1", issue("t:x"), issue("t:x")),
        phase_file("b", 2, "1", issue("t:x"), issue("auth:open", Severity.MAJOR)),
        phase_file("c", 3, "2", issue("t:x"), issue("t:y")),
    ]
    index = build_run_index("run-1", files)
    assert (index.minor_count, index.major_count, index.total_count) == (2, 1, 3)
    x = next(entry for entry in index.entries if entry.issue_key == "t:x")
    assert x.occurrence_count == 4
    assert x.phases == ("a", "b", "c")
    assert x.tiers == ("1", "2")
    assert [e.issue_key for e in index.in_tier("2")] == ["t:x", "t:y"]
    path = write_run_index(tmp_path, index)
    assert path.name == "run_issue_index.json"
    assert read_run_index(path) == index


def test_resolved_issues_do_not_count() -> None:
    files = [phase_file("a", 1, "1", issue("t:x", issue_state=IssueState.RESOLVED))]
    index = build_run_index("run-1", files)
    assert (index.minor_count, index.total_count) == (0, 1)
    assert files[0].issue_state is IssueState.RESOLVED


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    file = phase_file("a", 1, "1", issue("t:x"))
    path = write_phase_issue_file(tmp_path, file)
    before = path.read_bytes()
    from autopack.issues.atomic_json import write_json_atomic

    with pytest.raises(TypeError):
        write_json_atomic(path, {"unserialisable": object()})
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
