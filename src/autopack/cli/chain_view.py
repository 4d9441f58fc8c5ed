"""How the CLI shows a chain of runs (run/chain.py): each part's end as the chain goes on, why it
stopped, and where a run stands in its chain for `autopack status`."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autopack.config import Settings
    from autopack.run.durable import Listener
    from autopack.run.execute import RunEnd
    from autopack.store.chains import RunChain


def through_chain(settings: Settings, end: RunEnd, as_json: bool, view: Listener) -> RunEnd:
    """Carry the chain of the run that just ended on, here; the last part's end (the run's own
    end for a run on its own)."""
    from autopack.run.chain import carry_chain_on

    def part_ended(part_end: RunEnd, chain: RunChain) -> None:
        if as_json:
            line = {"kind": "part_end", "run_id": part_end.run_id, "part": chain.part}
            print(json.dumps({**line, "of": chain.of, "state": part_end.state.value}), flush=True)
        else:
            print(
                f"part {chain.part}/{chain.of}: run {part_end.run_id} ended {part_end.state.value}"
            )

    last, stop = carry_chain_on(settings, end, view, part_ended)
    if stop is not None:
        if as_json:
            line = {"kind": "chain_stopped", "run_id": stop.end.run_id, "part": stop.part}
            rest = {"of": stop.of, "not_started": list(stop.not_started)}
            print(json.dumps({**line, **rest, "reason": stop.sentence()}), flush=True)
        else:
            print(stop.sentence(), file=sys.stderr)
    return last


def chain_lines(chain: RunChain) -> list[str]:
    """`autopack status`'s lines for a part of a chain."""
    lines = [f"  part {chain.part} of {chain.of} of chain {chain.chain_id}"]
    if chain.previous_run_id is not None:
        lines.append(f"    previous part: {chain.previous_run_id}")
    if chain.next_run_id is not None:
        lines.append(f"    next part: {chain.next_run_id}")
    for part in chain.parts:
        if part.run_id is None:
            tiers = ", ".join(part.tier_ids)
            lines.append(
                f"    part {part.part} not started: {part.phases} phase(s) in tier(s) {tiers}"
            )
    return lines
