"""The merge train: phases that passed the gate, in the order they will land on the integration
branch, each merged onto the one ahead of it.

A phase's attempt is merged onto the tree the branch will hold once the phases ahead of it have
landed (a speculative commit, on no branch), and checked on that tree while they are checked on
theirs. It lands when every phase ahead has left the train and the branch's tree is the one it
was merged onto; so when nothing ahead fails, each phase is checked once, all of them at once,
and every commit on the branch still passed its checks on exactly its own tree. A phase that
leaves without landing takes the phases behind it off the train too (their trees held its
change): each of those finds the branch moved when it comes to commit, and is merged and checked
again (REMERGE).

It lives in the process driving the run (one per run: run_services); after a restart it starts
empty, and a replayed commit that finds no car simply checks the branch's tree.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

WAIT_SECONDS = 1.0  # how often a waiting phase looks again, whatever woke it


@dataclass(frozen=True)
class Car:
    phase_id: str
    commit: str  # the speculative commit: the phase's merged tree on the car ahead's


@dataclass
class MergeTrain:
    _cars: list[Car] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def tail(self) -> str | None:
        """The commit the next phase to pass the gate is merged onto; None: the branch's head."""
        with self._changed:
            return self._cars[-1].commit if self._cars else None

    def board(self, phase_id: str, commit: str) -> None:
        """The phase joins at the back (its earlier car, if any, leaves first)."""
        with self._changed:
            self._drop_from(phase_id)
            self._cars.append(Car(phase_id, commit))
            self._changed.notify_all()

    def landed(self, phase_id: str) -> None:
        """The phase's commit is on the branch: the cars behind it keep their trees."""
        with self._changed:
            self._cars = [car for car in self._cars if car.phase_id != phase_id]
            self._changed.notify_all()

    def leave(self, phase_id: str) -> None:
        """The phase leaves without landing, and every car behind it with it."""
        with self._changed:
            self._drop_from(phase_id)
            self._changed.notify_all()

    def wait_for_front(self, phase_id: str) -> None:
        """Until no car is ahead of the phase's (at once if it has none)."""
        with self._changed:
            while self._ahead(phase_id):
                self._changed.wait(WAIT_SECONDS)

    def _ahead(self, phase_id: str) -> bool:
        ids = [car.phase_id for car in self._cars]
        return phase_id in ids and ids.index(phase_id) > 0

    def _drop_from(self, phase_id: str) -> None:
        ids = [car.phase_id for car in self._cars]
        if phase_id in ids:
            del self._cars[ids.index(phase_id) :]
