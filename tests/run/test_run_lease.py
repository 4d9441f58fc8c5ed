"""One run, one driver: two resumes at once, a resume of a live run, a resume in the wrong
project's repository, and the checks a killed process left running."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autopack.config import load_settings
from autopack.demo.developer import demo_reply
from autopack.demo.project import create_project
from autopack.demo.record import aliases_on
from autopack.domain.states import RunState
from autopack.processes import executor_dead
from autopack.run.lease import holding
from autopack.store.engine import open_database
from autopack.store.runs import create_run, get_run
from autopack.testing.fake_llm import fake_llm_server
from autopack.testing.kills import (
    KILLED,
    ONE_PHASE_PLAN,
    committed_phases,
    leftovers,
    only_run,
    start_run,
    sweep_runs,
)
from autopack.testing.runs import blueprint
from autopack.verify.orphans import OWNER_VARIABLE, reap_orphans

AUTOPACK = str(Path(sys.executable).parent / "autopack")
ENV = {"OPENAI_API_KEY": "test-key", "AUTOPACK_HEARTBEAT_SECONDS": "0.5"}


def _cli(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [AUTOPACK, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def test_of_two_resumes_at_once_exactly_one_drives_the_run_the_other_names_it(
    tmp_path: Path,
) -> None:
    env = {**os.environ, **ENV}
    env.pop("AUTOPACK_DATABASE_URL", None)
    with fake_llm_server(demo_reply) as server:
        root = tmp_path / "calc"
        create_project(root, extra_config=aliases_on(server.openai_base_url))
        plan = tmp_path / "plan.md"
        plan.write_text(ONE_PHASE_PLAN, encoding="utf-8")
        assert start_run(root, plan, ENV, kill_at="step:verify#1") == KILLED
        run_id = only_run(root)
        resumes = [_cli("resume", run_id, "--repo", str(root), env=env) for _ in range(2)]
        ends = [(p.wait(timeout=600), *p.communicate()) for p in resumes]
    codes = sorted(code for code, _, _ in ends)
    assert codes == [0, 9], ends
    # Each says at once what it is doing, before the store, DBOS or the run's services are up.
    assert all(
        out.startswith(f"resuming {run_id} from its last checkpoint\n") for _, out, _ in ends
    )
    refused = next(err for code, _, err in ends if code == 9)
    assert f"run {run_id} is being driven by" in refused
    assert f"autopack watch {run_id}" in refused
    assert "Traceback" not in refused
    assert committed_phases(root, run_id) == ["1.1"]  # driven once: the phase committed once
    assert not leftovers(root)


def test_a_run_is_not_resumed_in_another_projects_repository_nor_swept_by_it(
    tmp_path: Path,
) -> None:
    shared = f"sqlite:///{tmp_path / 'shared.db'}"
    env = {**os.environ, **ENV, "AUTOPACK_DATABASE_URL": shared}
    with fake_llm_server(demo_reply) as server:
        config = aliases_on(server.openai_base_url)
        ours, theirs = tmp_path / "calc", tmp_path / "other"
        create_project(ours, extra_config=config)
        create_project(theirs, extra_config=config)
        plan = tmp_path / "plan.md"
        plan.write_text(ONE_PHASE_PLAN, encoding="utf-8")
        toml = theirs / "autopack.toml"
        toml.write_text(toml.read_text().replace('id = "calc-demo"', 'id = "other"'))
        killed = start_run(
            ours, plan, {**ENV, "AUTOPACK_DATABASE_URL": shared}, kill_at="step:build#1"
        )
        assert killed == KILLED
        run_id = only_run(ours, shared)

        refused = _cli("resume", run_id, "--repo", str(theirs), env=env)
        code, _, err = refused.wait(timeout=300), *refused.communicate()
        assert code == 4, err
        assert f"run {run_id} belongs to project 'calc-demo'" in err
        assert sweep_runs(theirs, {**ENV, "AUTOPACK_DATABASE_URL": shared}) == 0
        branches = subprocess.run(
            ["git", "branch", "--list", "autopack/*"], cwd=theirs, capture_output=True, text=True
        ).stdout
        assert branches == ""  # nothing was made in the other project's repository
        database = open_database(shared)
        try:
            assert get_run(database, run_id).state is not RunState.DONE_SUCCESS
        finally:
            database.close()

        assert sweep_runs(ours, {**ENV, "AUTOPACK_DATABASE_URL": shared}) == 0
    database = open_database(shared)
    try:
        assert get_run(database, run_id).state is RunState.DONE_SUCCESS
    finally:
        database.close()


def test_a_check_left_running_by_a_killed_process_is_reaped_by_the_next_lease_holder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUTOPACK_DATABASE_URL", raising=False)
    root = tmp_path / "calc"
    create_project(root)
    settings = load_settings(root)
    database = open_database(settings.database_url)
    try:
        create_run(database, blueprint("run-1").model_copy(update={"project_id": "calc-demo"}))
    finally:
        database.close()
    # An unsandboxed check runs in its own session, as limits_exec starts it, marked with the
    # executor that started it; that executor is then SIGKILLed, the check lives on.
    dead = subprocess.Popen(["sleep", "60"])
    dead.kill()
    dead.wait()
    dead_owner = f"{socket.gethostname()}-{dead.pid}"
    assert executor_dead(dead_owner)
    orphan = subprocess.Popen(
        ["sleep", "300"], start_new_session=True, env={**os.environ, OWNER_VARIABLE: dead_owner}
    )
    alive = subprocess.Popen(
        ["sleep", "300"],
        start_new_session=True,
        env={**os.environ, OWNER_VARIABLE: f"{socket.gethostname()}-{os.getpid()}"},
    )
    try:
        with holding(settings, "run-1", f"{socket.gethostname()}-{os.getpid()}"):
            deadline = time.monotonic() + 10
            while orphan.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
        assert orphan.returncode == -9  # reaped
        assert alive.poll() is None  # a live executor's check is left alone
        assert reap_orphans(executor_dead) == []
    finally:
        for process in (orphan, alive):
            process.kill()
            process.wait()
