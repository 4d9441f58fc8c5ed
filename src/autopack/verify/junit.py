"""JUnit XML (as pytest and most runners write it) read into per-test outcomes."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from pathlib import Path

from autopack.verify.base import TestOutcome, TestStatus

MAX_REPORT_BYTES = 50 * 1024 * 1024


def _test_id(case: ElementTree.Element) -> str:
    classname = case.get("classname", "")
    name = case.get("name", "?")
    return f"{classname}::{name}" if classname else name


def read_junit(path: Path) -> list[TestOutcome]:
    """Outcomes in file order; a missing, oversized or unreadable report gives none."""
    if not path.is_file() or path.stat().st_size > MAX_REPORT_BYTES:
        return []
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError:
        return []
    outcomes = []
    for case in root.iter("testcase"):
        status, message, output = TestStatus.PASSED, "", ""
        for child, child_status in (
            ("failure", TestStatus.FAILED),
            ("error", TestStatus.ERROR),
            ("skipped", TestStatus.SKIPPED),
        ):
            element = case.find(child)
            if element is not None:
                status = child_status
                message = element.get("message", "")
                output = (element.text or "").strip()
                break
        outcomes.append(
            TestOutcome(
                test_id=_test_id(case),
                status=status,
                message=message[:500],
                output=output[-2000:],
                seconds=float(case.get("time", "0") or 0),
            )
        )
    return outcomes
