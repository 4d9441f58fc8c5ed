"""The demo project served by the real API on 127.0.0.1 (uvicorn), on SQLite or PostgreSQL, with
the fake OpenAI server behind its models and a token of each scope: for tests and benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from autopack.config import load_settings
from autopack.demo.developer import demo_reply
from autopack.demo.project import create_project
from autopack.demo.record import aliases_on
from autopack.domain.vocabulary import TokenScope
from autopack.server.app import create_app, server_options
from autopack.server.context import ServerContext
from autopack.store.engine import Database, open_database
from autopack.store.tokens import create_token
from autopack.testing.fake_llm import FakeLLMServer, Reply, fake_llm_server
from autopack.testing.http_server import serving

TERMINAL_PREFIX = "DONE_"


@dataclass
class Api:
    base_url: str
    write_token: str
    read_token: str
    root: Path
    llm: FakeLLMServer
    database: Database
    context: ServerContext

    def client(self, token: str | None = "write") -> httpx2.Client:
        headers = {}
        if token == "write":
            headers["Authorization"] = f"Bearer {self.write_token}"
        elif token == "read":
            headers["Authorization"] = f"Bearer {self.read_token}"
        elif token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return httpx2.Client(base_url=self.base_url, headers=headers, timeout=60)

    def wait_for_end(self, run_id: str, seconds: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        with self.client("read") as client:
            while time.monotonic() < deadline:
                run = client.get(f"/runs/{run_id}").json()["run"]
                if run["state"].startswith(TERMINAL_PREFIX):
                    return dict(run)
                time.sleep(0.2)
        raise AssertionError(f"run {run_id} did not end in {seconds} s")


Script = Callable[[str, dict[str, Any]], Reply]


def start_api(
    tmp_path: Path,
    database_url: str | None,
    monkeypatch: pytest.MonkeyPatch,
    *,
    script: Script = demo_reply,
    run_worker: bool = True,
    cors_origins: tuple[str, ...] = (),
    extra_config: str = "",
) -> Iterator[Api]:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    if database_url is None:
        monkeypatch.delenv("AUTOPACK_DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("AUTOPACK_DATABASE_URL", database_url)
    with fake_llm_server(script) as llm:
        root = tmp_path / "calc"
        create_project(root, extra_config=aliases_on(llm.openai_base_url) + extra_config)
        settings = load_settings(root)
        database = open_database(settings.database_url)
        write_token, _ = create_token(database, "ci-write", TokenScope.WRITE)
        read_token, _ = create_token(database, "ci-read", TokenScope.READ)
        context = ServerContext(settings=settings, database=database, cors_origins=cors_origins)
        try:
            app = create_app(context, run_worker=run_worker)
            with serving(app, **server_options(settings)) as base_url:
                yield Api(base_url, write_token, read_token, root, llm, database, context)
        finally:
            database.close()
