"""Ctrl-C during a run, as a user presses it: the CI command (or external Builder CLI) in flight is
killed with its whole process group at once, the CLI prints one line saying how to resume and exits 130, `status` says
the run was interrupted, and `resume` (or `sweep`) finishes it without paying again for the build.

The CI command holds (a process whose command line names the script's folder, so it can be found
in /proc, inside the sandbox too) only once the Builder's edit is in the worktree and only while
the script's .hold file exists: the test removes the file before resuming.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from autopack.demo.developer import demo_reply
from autopack.demo.project import create_project
from autopack.demo.record import aliases_on
from autopack.testing.fake_llm import FakeLLMServer, fake_llm_server

AUTOPACK = str(Path(sys.executable).parent / "autopack")
CI_STARTS_WITHIN = 180.0  # seconds: the baseline and one Builder attempt come first
EXITS_WITHIN = 10.0  # seconds after Ctrl-C; the held command would take 600

ONE_PHASE_PLAN = """# Calculator

## Tier 1: Operations

### Phase 1.1: Add subtraction
category: feature
complexity: low
scope: calc/ops.py, tests/test_subtract.py

Add `subtract(a, b)` to calc/ops.py with a unit test.
"""

HOLDING_CHECK = f"""#!/bin/sh
if [ -f tests/test_subtract.py ] && [ -f "$0.hold" ]; then
  {sys.executable} -c "import time; time.sleep(600)" "$0" &
  wait
fi
"""
# An external Builder CLI that works for ten minutes.
HOLDING_AIDER = f"""#!/bin/sh
{sys.executable} -c "import time; time.sleep(600)" "$0" &
wait
"""


def as_from_a_terminal() -> None:
    """The command starts with Ctrl-C's default action, as from a shell prompt. A test run started
    in the background (`cmd &` in a script: CI) ignores SIGINT, its children inherit that, and the
    CLI rightly keeps a signal it was started ignoring ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@dataclass
class Project:
    root: Path
    plan: Path
    check: Path
    env: dict[str, str]
    server: FakeLLMServer

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [AUTOPACK, *args],
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=as_from_a_terminal,
        )

    def autopack(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [AUTOPACK, *args],
            cwd=self.root,
            env={**self.env, **env},
            capture_output=True,
            text=True,
        )

    def held(self) -> list[int]:
        """The processes of the holding commands (a shell and the sleeper it started)."""
        name = f"{self.check.parent}{os.sep}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if name in (entry / "cmdline").read_bytes():
                        found.append(int(entry.name))
                except OSError:  # gone meanwhile
                    pass
        return found

    def wait_for_hold(self, process: subprocess.Popen[str]) -> None:
        deadline = time.monotonic() + CI_STARTS_WITHIN
        while not self.held():
            if process.poll() is not None:
                pytest.fail(f"the run ended before a command held: {process.communicate()}")
            if time.monotonic() > deadline:
                process.kill()
                pytest.fail("no command held")
            time.sleep(0.1)

    def builder_calls(self) -> int:
        return sum(self.server.calls_per_model.values())


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    tools = tmp_path / "tools"
    tools.mkdir()
    check = tools / "holding-check"
    check.write_text(HOLDING_CHECK)
    check.chmod(0o755)
    (tools / "holding-check.hold").write_text("")
    (tools / "aider").write_text(HOLDING_AIDER)
    (tools / "aider").chmod(0o755)
    env = {
        **os.environ,
        "OPENAI_API_KEY": "test-key",
        "ANTHROPIC_API_KEY": "test-key",
        # On PATH, so the sandbox binds the folder and the command sees the .hold file go.
        "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}",
        "AUTOPACK_HEARTBEAT_SECONDS": "0.5",
    }
    env.pop("AUTOPACK_DATABASE_URL", None)
    with fake_llm_server(demo_reply) as server:
        root = tmp_path / "calc"
        extra = 'held = "holding-check"\n' + aliases_on(server.openai_base_url)
        create_project(root, extra_config=extra)
        plan = root / "one_phase.md"
        plan.write_text(ONE_PHASE_PLAN)
        subprocess.run(["git", "-C", str(root), "add", "one_phase.md"], check=True)
        subprocess.run(
            ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "plan"],
            check=True,
        )  # fmt: skip
        started = Project(root, plan, check, env, server)
        yield started
        for pid in started.held():  # whatever happened, nothing the test started outlives it
            os.kill(pid, signal.SIGKILL)


def _interrupted(
    project: Project, process: subprocess.Popen[str], *signals: int
) -> tuple[str, str]:
    for number in signals:
        process.send_signal(number)
    sent = time.monotonic()
    try:
        stdout, stderr = process.communicate(timeout=EXITS_WITHIN)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"still running {EXITS_WITHIN:g} s after the interrupt")
    assert process.returncode == 130, stdout + stderr
    assert time.monotonic() - sent < EXITS_WITHIN
    gone_by = time.monotonic() + 2
    while project.held() and time.monotonic() < gone_by:
        time.sleep(0.05)
    assert project.held() == [], "the command's process group outlived the interrupt"
    for text in (stdout, stderr):
        assert "Traceback" not in text
        assert "WARNING" not in text
        assert "dbos" not in text.lower()
    return stdout, stderr


def _status(project: Project, run_id: str) -> dict[str, object]:
    shown = project.autopack("status", run_id, "--json")
    assert shown.returncode == 0, shown.stderr
    status: dict[str, object] = json.loads(shown.stdout)
    return status


@pytest.mark.parametrize(
    ("sandboxed", "carry_on"),
    [(False, "resume"), (True, "sweep")],
    ids=["no-sandbox", "bubblewrap"],
)
def test_ctrl_c_kills_the_ci_command_records_the_run_and_resume_finishes_it_without_paying_again(
    project: Project, sandboxed: bool, carry_on: str, request: pytest.FixtureRequest
) -> None:
    if sandboxed:  # the run below then uses bubblewrap: skipped (or failed where required) without
        request.getfixturevalue("sandbox")
    run = project.start("run", str(project.plan), *([] if sandboxed else ["--no-sandbox"]))
    project.wait_for_hold(run)
    paid = project.builder_calls()
    assert paid > 0

    stdout, stderr = _interrupted(project, run, signal.SIGINT)

    assert "attempt 1: verify" in stdout  # the progress printed before the interrupt is kept
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    run_id = lines[0].split()[2].rstrip(":")
    assert lines[0] == f"interrupted run {run_id}: resume with `autopack resume {run_id}`"
    status = _status(project, run_id)
    assert status["interrupted_at"] is not None
    assert status["state"] == "PHASE_EXECUTION"
    assert next(phase["state"] for tier in status["tiers"] for phase in tier["phases"]) == (
        "CI_RUNNING"
    )
    human = project.autopack("status", run_id).stdout.splitlines()[0]
    assert human.startswith(f"{run_id}  interrupted (PHASE_EXECUTION)")
    assert human.endswith(f"resume with `autopack resume {run_id}`")
    listed = project.autopack("runs").stdout
    assert "interrupted (PHASE_EXECUTION)" in listed

    (project.check.parent / "holding-check.hold").unlink()
    if carry_on == "resume":
        finished = project.autopack("resume", run_id)
    else:
        time.sleep(1.5)  # the interrupted executor's last heartbeat goes stale
        worked = project.autopack("worker", "--once", "--json", AUTOPACK_STALE_SECONDS="1")
        assert json.loads(worked.stdout) == [], worked.stderr  # stopped on purpose: not adopted
        assert _status(project, run_id)["interrupted_at"] is not None
        finished = project.autopack("sweep", "--stale-seconds", "1")
    assert finished.returncode == 0, finished.stdout + finished.stderr
    status = _status(project, run_id)
    assert status["state"] == "DONE_SUCCESS"
    assert status["interrupted_at"] is None
    assert project.builder_calls() == paid  # the finished build was not paid for again


def test_a_second_ctrl_c_exits_at_once_and_quietly(project: Project) -> None:
    run = project.start("run", str(project.plan), "--no-sandbox", "--json")
    project.wait_for_hold(run)

    stdout, stderr = _interrupted(project, run, signal.SIGINT, signal.SIGINT)

    assert stderr == ""
    said = [json.loads(line) for line in stdout.splitlines() if '"interrupted"' in line]
    assert len(said) <= 1  # the second Ctrl-C may end the process before the line
    for line in said:
        (driven,) = line["runs"]
        assert driven["resume"] == f"autopack resume {driven['run_id']}"


def test_sigterm_interrupts_like_ctrl_c(project: Project) -> None:
    run = project.start("run", str(project.plan), "--no-sandbox")
    project.wait_for_hold(run)

    _, stderr = _interrupted(project, run, signal.SIGTERM)

    assert stderr.startswith("interrupted run ")
    run_id = stderr.split()[2].rstrip(":")
    assert _status(project, run_id)["interrupted_at"] is not None


def test_demo_says_where_its_project_is_before_the_run_starts_and_how_to_resume_it(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    env.pop("AUTOPACK_DATABASE_URL", None)
    demo = subprocess.Popen(
        [AUTOPACK, "demo"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, preexec_fn=as_from_a_terminal,
    )  # fmt: skip
    assert demo.stdout is not None
    first = demo.stdout.readline().strip()
    second = demo.stdout.readline()
    demo.send_signal(signal.SIGINT)
    _, stderr = demo.communicate(timeout=EXITS_WITHIN)
    assert demo.returncode == 130

    assert first.startswith("sample project: ")
    root = Path(first.removeprefix("sample project: "))
    assert root.parent.parent == tmp_path
    assert (root / "autopack.toml").exists()
    assert second.startswith("run run-")  # the folder came before the run's first line
    (line,) = [line for line in stderr.splitlines() if line.startswith("interrupted")]
    run_id = line.split()[2].rstrip(":")
    assert line.endswith(f"`autopack resume {run_id} --repo {root}`")


def test_ctrl_c_kills_an_external_builder_cli_at_once(project: Project, tmp_path: Path) -> None:
    plan = tmp_path / "external.md"
    plan.write_text(
        ONE_PHASE_PLAN.replace("category: feature", "category: feature\nbuilder: aider")
    )
    run = project.start("run", str(plan), "--no-sandbox")
    project.wait_for_hold(run)

    _, stderr = _interrupted(project, run, signal.SIGINT)

    assert stderr.startswith("interrupted run "), stderr
    run_id = stderr.split()[2].rstrip(":")
    assert _status(project, run_id)["interrupted_at"] is not None


def test_ctrl_c_during_autopack_verify_kills_its_command(tmp_path: Path) -> None:
    marker = str(tmp_path / "verify-holds")
    (tmp_path / "autopack.toml").write_text(
        f'[project]\nid = "v"\n\n[ci.normal.commands]\n'
        f"held = '{sys.executable} -c \"import time; time.sleep(600)\" {marker}'\n"
    )
    subprocess.run(["git", "init", "-q", "-b", "main", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "add", "autopack.toml"], check=True)
    subprocess.run(
        ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c"],
        check=True,
    )  # fmt: skip

    def holding() -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
        return found

    env = {**os.environ}
    env.pop("AUTOPACK_DATABASE_URL", None)
    verify = subprocess.Popen(
        [AUTOPACK, "verify", "--no-sandbox"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, preexec_fn=as_from_a_terminal,
    )  # fmt: skip
    deadline = time.monotonic() + CI_STARTS_WITHIN
    while not holding() and verify.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert holding(), verify.communicate()

    verify.send_signal(signal.SIGINT)
    _, stderr = verify.communicate(timeout=EXITS_WITHIN)

    assert verify.returncode == 130, stderr
    assert "Traceback" not in stderr
    gone_by = time.monotonic() + 2
    while holding() and time.monotonic() < gone_by:
        time.sleep(0.05)
    left = holding()
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == [], "the command outlived autopack verify"
