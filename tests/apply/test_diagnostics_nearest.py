"""The "did you mean" of a hunk that does not fit points at the lines the hunk was written against."""

from __future__ import annotations

import pytest

from autopack.apply.diagnostics import nearest_lines, no_match


def look_alike_file(lines: int = 5_000) -> list[str]:
    """Functions that differ only in a name and a few numbers: every window looks like many others."""
    out: list[str] = []
    number = 0
    while len(out) < lines:
        out += [
            f"def handler_{number}(request, value):",
            f'    """Handle case {number}."""',
            f"    total = value * {number % 7}",
            f"    if total > {number % 11}:",
            "        return total - 1",
            "    result = compute(request, total)",
            "    return result + 1",
            "",
            "",
        ]
        number += 1
    return out[:lines]


def start_of(file_lines: list[str], search: list[str]) -> int:
    near = nearest_lines(file_lines, search)
    assert near is not None
    start, window = near
    assert window == file_lines[start : start + len(window)]
    return start


def test_finds_an_edited_hunk_among_look_alike_functions() -> None:
    file_lines = look_alike_file()
    search = file_lines[3_006:3_040]
    search[4] = "        return total - 2"
    search[11] = "    total = value ** 6"
    search[32] = "    result = compute(request, total, strict=True)"
    assert start_of(file_lines, search) == 3_006


def test_finds_a_reindented_hunk_over_a_worse_copy_at_its_own_indentation() -> None:
    file_lines = look_alike_file()
    search = [line.removeprefix("    ") for line in file_lines[1_800:1_809]]
    decoy = list(search)
    decoy[2], decoy[4], decoy[5] = "total = 0", "return total", "result = None"
    file_lines[3_996:4_005] = decoy
    assert start_of(file_lines, search) == 1_800


def test_finds_a_hunk_with_one_line_changed_in_the_middle() -> None:
    file_lines = look_alike_file()
    search = file_lines[4_500:4_509]
    search[4] = "        return total + 1"
    assert start_of(file_lines, search) == 4_500


def test_finds_a_hunk_with_a_missing_line() -> None:
    file_lines = look_alike_file()
    search = file_lines[2_250:2_262]
    del search[6]
    assert start_of(file_lines, search) == 2_250


def test_finds_a_hunk_whose_every_line_was_edited() -> None:
    file_lines = look_alike_file()
    search = [line.replace('"""', "'''") + "  # edited" for line in file_lines[702:720]]
    assert start_of(file_lines, search) == 702


def test_the_window_with_most_matching_lines_wins_over_repeats_of_the_first_lines() -> None:
    opening = ["def setup(config):", "    config.load()", "    config.validate()"]
    file_lines: list[str] = []
    for tail in ("first", "second", "third", "fourth"):
        # The right copy also gained a line since the hunk was written: as many lines point at
        # each copy's start, only comparing the windows tells them apart.
        added = ["    config.check()"] if tail == "third" else []
        file_lines += [*opening, *added, f"    run_{tail}(config)", f"    log('{tail}')", "", ""]
    search = [*opening, "    run_third(config)", "    log('third')"]
    assert start_of(file_lines, search) == 14


def test_a_hunk_longer_than_the_file_is_shown_the_whole_file() -> None:
    file_lines = ["a = 1", "b = 2"]
    assert nearest_lines(file_lines, ["a = 1", "b = 3", "c = 4"]) == (0, file_lines)


@pytest.mark.parametrize(("file_lines", "search"), [([], ["x = 1"]), (["x = 1"], []), ([], [])])
def test_nothing_to_compare_gives_no_window(file_lines: list[str], search: list[str]) -> None:
    assert nearest_lines(file_lines, search) is None


def test_no_match_names_the_nearest_lines_by_their_numbers() -> None:
    file_lines = look_alike_file(200)
    search = file_lines[99:103]
    search[2] = "    total = value + 99"
    message = no_match("src/app.py", 2, file_lines, search, line_hint=80)
    assert message == (
        "src/app.py: hunk 2 (the patch said near line 80) does not match the file; "
        "did you mean lines 100-103:\n"
        "    100: def handler_11(request, value):\n"
        '    101:     """Handle case 11."""\n'
        "    102:     total = value * 4\n"
        "    103:     if total > 0:"
    )


def test_no_match_in_an_empty_file_offers_no_lines() -> None:
    assert no_match("src/app.py", 1, [], ["x = 1"], None) == (
        "src/app.py: hunk 1 does not match the file"
    )
