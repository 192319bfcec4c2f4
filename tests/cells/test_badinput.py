"""The cell tasks' bad-input corpus: every case is handled as specified (DESIGN 7)."""

from __future__ import annotations

import pytest

from pipeline.cells.badinput import cases
from pipeline.core.badinput import Verdict, run_cases

pytestmark = pytest.mark.slow  # end-to-end: `make test-fast` leaves it out

NAMES = [c.name for c in cases()]


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Verdict]:
    return {v.name: v for v in run_cases(cases(), tmp_path_factory.mktemp("cells-bad-inputs"))}


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_is_handled_as_specified(verdicts: dict[str, Verdict], name: str) -> None:
    v = verdicts[name]
    assert v.ok, f"{name}: expected: {v.expected}; observed: {v.observed}"
