"""Concurrent claims on one DBOS SQLite queue keep its global limit (run/dbos_sqlite.py).

Eight claimers, each with its own engine as a process has, race for a queue limited to one
workflow at a time whose eight workflows wait in eight partitions (as runs of eight projects
do). DBOS alone counts room for one in each claimer, outside any transaction, and each claims
its own partition's workflow.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

from dbos import DBOSClient, EnqueueOptions

from autopack.run.dbos_sqlite import make_sqlite_queue_claims_atomic

QUEUE = "limited"
CLAIMERS = 8


def _claims(url: str) -> int:
    clients = [
        DBOSClient(system_database_url=url, application_name="autopack") for _ in range(CLAIMERS)
    ]
    try:
        clients[0]._sys_db.run_migrations()
        clients[0].register_queue(QUEUE, global_concurrency=1, partition_worker_concurrency=1)
        for number in range(CLAIMERS):
            options: EnqueueOptions = {
                "workflow_name": "work",
                "queue_name": QUEUE,
                "queue_partition_key": f"project-{number}",
                "app_version": "v1",
            }
            clients[0].enqueue(options)
        queue = clients[0].retrieve_queue(QUEUE)
        assert queue is not None
        for client in clients:  # warm pools: cold connections stagger the claimers by accident
            client.list_queues()
        start = threading.Barrier(CLAIMERS)
        claimed: list[int] = []
        lock = threading.Lock()

        def claim(number: int) -> None:
            start.wait()
            ids, _ = clients[number]._sys_db.start_queued_workflows(
                queue, f"executor-{number}", "v1", f"project-{number}", owner_xid=str(uuid.uuid4())
            )
            with lock:
                claimed.append(len(ids))

        threads = [threading.Thread(target=claim, args=(n,)) for n in range(CLAIMERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sum(claimed)
    finally:
        for client in clients:
            client.destroy()


def test_concurrent_claims_on_a_sqlite_queue_keep_its_global_limit(tmp_path: Path) -> None:
    make_sqlite_queue_claims_atomic()
    assert _claims(f"sqlite:///{tmp_path / 'dbos.sqlite'}") == 1
