"""A remote Builder for the tests: a separate process that knows Autopack only by its HTTP API.

It claims each attempt on offer, clones the repository the task names, checks out the base commit,
makes the phase's change there, and submits `git diff` of it with what it says it spent. Some
phases are scripted to misbehave first (a hostile patch, a lease left to expire, an overspend); each
answer the API gave is written to the results file for the test to judge.

Run: python remote_agent.py BASE_URL TOKEN WORKDIR RESULTS_JSON PHASES_TO_SUBMIT [overspend]
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2

CHANGES = {
    "1.1": ("calc/ops.py", "\n\ndef subtract(a: float, b: float) -> float:\n    return a - b\n"),
    "1.2": ("calc/ops.py", "\n\ndef multiply(a: float, b: float) -> float:\n    return a * b\n"),
    "1.3": ("README.md", "\nOperations: add, subtract, multiply.\n"),
}
HOSTILE = """--- a/.github/workflows/ci.yml
+++ b/.github/workflows/ci.yml
@@ -0,0 +1 @@
+on: push
"""
USAGE = {"input_tokens": 1200, "output_tokens": 300, "requests": 3, "cost_usd": "0.05"}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Remote", "-c", "user.email=remote@test.invalid", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def build(task: dict[str, Any], workdir: Path) -> str:
    """The phase's change in our own clone, as a patch against the base commit."""
    clone = workdir / f"{task['phase_id']}-a{task['attempt']}-{time.monotonic_ns()}"
    subprocess.run(
        ["git", "clone", "-q", task["repository"], str(clone)], check=True, capture_output=True
    )
    git(clone, "checkout", "-q", task["base_commit"])
    path, addition = CHANGES[task["phase_id"]]
    with (clone / path).open("a", encoding="utf-8") as file:
        file.write(addition)
    git(clone, "add", "--all")
    return git(clone, "diff", "--cached", "--binary", task["base_commit"])


def main() -> None:
    base_url, token, workdir, results_file, wanted = sys.argv[1:6]
    overspend = sys.argv[6:] == ["overspend"]
    results: list[dict[str, Any]] = []
    submitted = 0
    client = httpx2.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )

    def note(step: str, phase: str, answer: httpx2.Response) -> None:
        body = answer.json() if answer.content else None
        results.append({"step": step, "phase": phase, "status": answer.status_code, "body": body})
        Path(results_file).write_text(json.dumps(results, indent=1), encoding="utf-8")

    deadline = time.monotonic() + 240
    while submitted < int(wanted) and time.monotonic() < deadline:
        answer = client.post("/builders/claims", json={"builder": "test-agent"})
        if answer.status_code == 204:
            time.sleep(0.2)
            continue
        claimed = answer.json()
        task, lease, offer_id = (
            claimed["task"],
            claimed["lease_token"],
            claimed["offer"]["offer_id"],
        )
        phase = task["phase_id"]
        note("claim", phase, answer)
        url = f"/builders/offers/{offer_id}"
        patch = build(task, Path(workdir))
        note("heartbeat", phase, client.post(f"{url}/heartbeat", json={"lease_token": lease}))
        if phase == "1.1":
            hostile = {"lease_token": lease, "patch": HOSTILE, "usage": USAGE}
            note("hostile", phase, client.post(f"{url}/submission", json=hostile))
        if phase == "1.2" and claimed["offer"]["claims"] == 1:
            # Left to expire: the late submission is refused, before and after a new claim.
            time.sleep(claimed["lease_seconds"] + 0.5)
            late = {"lease_token": lease, "patch": patch, "usage": USAGE}
            note("late", phase, client.post(f"{url}/submission", json=late))
            again = client.post(f"{url}/claim", json={"builder": "test-agent"})
            note("reclaim", phase, again)
            note("late-after-reclaim", phase, client.post(f"{url}/submission", json=late))
            lease = again.json()["lease_token"]
        usage = dict(USAGE)
        if overspend:
            usage["cost_usd"] = "1000"
        body = {"lease_token": lease, "patch": patch, "summary": f"{phase} done", "usage": usage}
        note("submit", phase, client.post(f"{url}/submission", json=body))
        note("resubmit", phase, client.post(f"{url}/submission", json=body))
        submitted += 1


if __name__ == "__main__":
    main()
