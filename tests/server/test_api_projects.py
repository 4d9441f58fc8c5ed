"""Many projects per server: /projects, runs of each registered repository (created with its own
settings, executed by a worker in its own repository), fair shares, and tokens limited to
projects, over real HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import httpx2

from autopack.demo.project import create_project
from autopack.demo.record import aliases_on
from autopack.domain.vocabulary import TokenScope
from autopack.run.worker import work
from autopack.store.tokens import create_token
from autopack.testing.api_server import Api
from autopack.testing.git_repos import git

OTHER = "calc-two"
PLAN = {"plan": "comprehensive_plan.md"}


def second_project(api: Api, root: Path, project_id: str = OTHER) -> Path:
    """Another demo repository, on the same fake model server, under another project id."""
    create_project(root, extra_config=aliases_on(api.llm.openai_base_url))
    config = root / "autopack.toml"
    config.write_text(config.read_text().replace('id = "calc-demo"', f'id = "{project_id}"'))
    git(root, "-c", "user.name=T", "-c", "user.email=t@t.invalid", "commit", "-qam", "own id")
    return root


def _problem(response: httpx2.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert words in response.json()["detail"], response.json()["detail"]


def _ids(response: httpx2.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["project_id"] for item in response.json()]


def test_projects_are_registered_listed_and_read(idle_api: Api, tmp_path: Path) -> None:
    other = second_project(idle_api, tmp_path / "two")
    with idle_api.client() as client:
        # The server's own repository is registered when it starts.
        (own,) = client.get("/projects").json()
        assert (own["project_id"], own["repo_path"], own["default"]) == (
            "calc-demo",
            str(idle_api.root.resolve()),
            True,
        )
        added = client.post("/projects", json={"path": str(other)})
        assert added.status_code == 201, added.text
        assert added.headers["location"] == f"/projects/{OTHER}"
        assert (added.json()["repo_path"], added.json()["default"]) == (str(other), False)
        again = client.post("/projects", json={"path": str(other)})
        assert again.status_code == 200
        assert again.json() == added.json()
        assert _ids(client.get("/projects")) == ["calc-demo", OTHER]
        assert client.get(f"/projects/{OTHER}").json() == added.json()
    with idle_api.client("read") as reader:
        assert _ids(reader.get("/projects")) == ["calc-demo", OTHER]
        _problem(reader.post("/projects", json={"path": str(other)}), 403, "may only read")
        _problem(reader.get("/projects/nope"), 404, "no project 'nope'")


def test_bad_registrations_are_refused_and_nothing_is_written(
    idle_api: Api, tmp_path: Path
) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    (tmp_path / "plain").mkdir()
    registered = second_project(idle_api, tmp_path / "two")
    clash = second_project(idle_api, tmp_path / "clash")  # the same project id, elsewhere
    with idle_api.client() as client:
        assert client.post("/projects", json={"path": str(registered)}).status_code == 201
        before = client.get("/projects").json()
        for path, status, words in (
            (str(a_file), 422, "not a directory"),
            (f"{a_file}/sub", 422, "cannot be used"),
            (str(tmp_path / "plain"), 422, "not the top of a git work tree"),
            (str(tmp_path / "missing"), 422, "cannot be used"),
            (str(idle_api.root / "calc"), 422, "not the top of a git work tree"),
            (str(clash), 409, f"project id '{OTHER}'"),
            ("relative/path", 422, "body.path"),
            ("/tmp/\x01", 422, "body.path"),
        ):
            _problem(client.post("/projects", json={"path": path}), status, words)
        # A lone surrogate is valid JSON but no filesystem's name.
        surrogate = client.post(
            "/projects",
            content=b'{"path": "/tmp/\\ud800"}',
            headers={"content-type": "application/json"},
        )
        _problem(surrogate, 422, "body.path")
        assert client.get("/projects").json() == before


def test_runs_are_created_with_their_projects_settings_and_listed_by_project(
    idle_api: Api, tmp_path: Path
) -> None:
    other = second_project(idle_api, tmp_path / "two")
    # The other project's own plan file: a plan path is resolved in the run's repository.
    (other / "only_here.md").write_text((other / "comprehensive_plan.md").read_text())
    with idle_api.client() as client:
        _problem(client.post("/runs", json={**PLAN, "project": OTHER}), 422, "no project")
        assert client.post("/projects", json={"path": str(other)}).status_code == 201
        _problem(client.post("/runs", json={"plan": "only_here.md"}), 422, "no file 'only_here.md'")
        theirs = client.post("/runs", json={"plan": "only_here.md", "project": OTHER})
        assert theirs.status_code == 202, theirs.text
        own = client.post("/runs", json=PLAN).json()["run_id"]
        theirs_id = theirs.json()["run_id"]
        listed = client.get(f"/runs?project={OTHER}").json()
        assert [(r["run_id"], r["project_id"]) for r in listed["runs"]] == [(theirs_id, OTHER)]
        assert {r["run_id"] for r in client.get("/runs").json()["runs"]} == {own, theirs_id}
        assert client.get("/runs?project=nope").json()["total"] == 0
        _problem(client.post("/runs", json={**PLAN, "project": "nope"}), 422, "no project")
        _problem(client.post("/runs", json={**PLAN, "project": "Bad Id"}), 422, "body.project")
        # Its files live in its own repository.
        assert (other / ".autonomous_runs" / theirs_id).is_dir()
        assert not (idle_api.root / ".autonomous_runs" / theirs_id).exists()
        assert client.get(f"/projects/{OTHER}/backlog").status_code == 200
        assert client.get(f"/reports/backlog?project={OTHER}").json()["project_id"] == OTHER


def test_a_token_limited_to_a_project_sees_and_acts_on_it_alone(
    idle_api: Api, tmp_path: Path
) -> None:
    other = second_project(idle_api, tmp_path / "two")
    with idle_api.client() as client:
        assert client.post("/projects", json={"path": str(other)}).status_code == 201
        own = client.post("/runs", json=PLAN).json()["run_id"]
        theirs = client.post("/runs", json={**PLAN, "project": OTHER}).json()["run_id"]
        before = client.get(f"/runs/{own}").json()
    limited, _ = create_token(idle_api.database, "two-only", TokenScope.WRITE, [OTHER])
    with idle_api.client(limited) as client:
        assert _ids(client.get("/projects")) == [OTHER]
        assert [r["run_id"] for r in client.get("/runs").json()["runs"]] == [theirs]
        assert client.get("/runs?project=calc-demo").json()["total"] == 0
        assert client.get(f"/runs/{theirs}").status_code == 200
        # The other project's run is absent to it, whatever it asks of it.
        for method, path in (
            ("GET", f"/runs/{own}"),
            ("GET", f"/runs/{own}/strategy"),
            ("GET", f"/runs/{own}/issues"),
            ("GET", f"/runs/{own}/ledger"),
            ("GET", f"/runs/{own}/summary"),
            ("GET", f"/runs/{own}/events"),
            ("POST", f"/runs/{own}/cancel"),
            ("POST", f"/runs/{own}/resume"),
            ("POST", f"/runs/{own}/promote"),
            ("GET", "/projects/calc-demo"),
            ("GET", "/projects/calc-demo/backlog"),
            ("GET", "/reports/backlog?project=calc-demo"),
        ):
            _problem(client.request(method, path), 404, "no ")
        _problem(client.post("/runs", json=PLAN), 403, "limited to projects calc-two")
        _problem(client.post("/projects", json={"path": str(other)}), 403, "limited to projects")
        _problem(client.get("/metrics"), 403, "limited to projects")
        # Its defaults are its own project's.
        assert client.get("/reports/budget").json()["project_id"] == OTHER
    with idle_api.client() as client:  # nothing it tried changed the other project's run
        assert client.get(f"/runs/{own}").json() == before
        assert client.get("/projects").json()[0]["project_id"] == "calc-demo"


def test_a_worker_runs_each_project_in_its_own_repository(idle_api: Api, tmp_path: Path) -> None:
    other = second_project(idle_api, tmp_path / "two")
    database_variable = os.environ.get("AUTOPACK_DATABASE_URL")
    with idle_api.client() as client:
        assert client.post("/projects", json={"path": str(other)}).status_code == 201
        theirs = client.post("/runs", json={**PLAN, "project": OTHER}).json()["run_id"]
        own = client.post("/runs", json=PLAN).json()["run_id"]
        ended = work(idle_api.context.settings, threading.Event(), once=True)
        assert sorted((end.run_id, end.state.value) for end in ended) == sorted(
            [(own, "DONE_SUCCESS"), (theirs, "DONE_SUCCESS")]
        )
        for run_id, repo, elsewhere in (
            (own, idle_api.root, other),
            (theirs, other, idle_api.root),
        ):
            branch = f"autopack/{run_id}"
            assert git(repo, "branch", "--list", "autopack/*").split() == [branch]
            assert len(git(repo, "rev-list", f"main..{branch}").split()) == 4
            assert git(elsewhere, "branch", "--list", branch).strip() == ""
            summary = client.get(f"/runs/{run_id}/summary")
            assert summary.status_code == 200, summary.text
            assert (repo / ".autonomous_runs" / run_id / "RUN_SUMMARY.md").is_file()
            integration = client.get(f"/runs/{run_id}/integration").json()
            assert len(integration["commits"]) == 4
    # The worker pointed the workflow at its database only while it ran the other project's run.
    assert os.environ.get("AUTOPACK_DATABASE_URL") == database_variable
