"""kill -9 of the run process at random points, then `autopack resume`: a terminal state, no
duplicate commits, and at most one model call paid twice per kill (the fake server counts)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from autopack.demo.developer import demo_reply
from autopack.demo.project import create_project
from autopack.demo.record import aliases_on
from autopack.testing.fake_llm import fake_llm_server

AUTOPACK = str(Path(sys.executable).parent / "autopack")
KILLS_PER_RUN = 5
DEMO_CALLS = 9


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [AUTOPACK, *args, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )


def _kill_after(process: subprocess.Popen[str], lines: int) -> tuple[list[str], bool]:
    """Read `lines` event lines of the run, then SIGKILL; (lines read, whether it was killed
    alive). The preflight's lines come before the run exists, so they are not counted."""
    assert process.stdout is not None
    seen = []
    while sum(1 for line in seen if '"kind": "preflight"' not in line) < lines:
        line = process.stdout.readline()
        if not line:
            process.wait()
            return seen, False
        seen.append(line)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return seen, True


@pytest.mark.parametrize("seed", [7, 2026])
def test_kill_9_at_random_points_then_resume_ends_cleanly(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    root = tmp_path / "calc"
    env = {**os.environ, "OPENAI_API_KEY": "test-key", "AUTOPACK_HEARTBEAT_SECONDS": "0.5"}
    env.pop("AUTOPACK_DATABASE_URL", None)
    with fake_llm_server(demo_reply) as server:
        plan = create_project(root, extra_config=aliases_on(server.openai_base_url))
        seen, killed = _kill_after(
            _start(["run", str(plan), "--repo", str(root)], env), rng.randint(1, 6)
        )
        kills = int(killed)
        run_id = (
            next(line for line in seen if '"run_id"' in line).split('"run_id": "')[1].split('"')[0]
        )
        while kills < KILLS_PER_RUN:
            _, killed = _kill_after(
                _start(["resume", run_id, "--repo", str(root)], env), rng.randint(1, 5)
            )
            if not killed:
                break
            kills += 1
        final = subprocess.run(
            [AUTOPACK, "resume", run_id, "--repo", str(root)],
            env=env,
            capture_output=True,
            text=True,
        )
        paid = sum(server.calls_per_model.values())
    assert final.returncode == 0, final.stdout + final.stderr
    assert "DONE_SUCCESS" in final.stdout
    log = subprocess.run(
        [
            "git",
            "log",
            "--format=%(trailers:key=Autopack-Phase,valueonly)",
            f"main..autopack/{run_id}",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert sorted(log) == ["1.1", "1.2", "2.1", "2.2"]  # each phase committed exactly once
    # The demo emits 37 event lines; these kill points all land before its end, so the suite's
    # two runs always take 2 x KILLS_PER_RUN kills.
    assert kills == KILLS_PER_RUN
    assert DEMO_CALLS <= paid <= DEMO_CALLS + kills
