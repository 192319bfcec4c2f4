"""The ECG bad-input corpus: every case is handled as specified (DESIGN 7)."""

from __future__ import annotations

import pytest

from pipeline.core.badinput import Verdict, run_cases
from pipeline.ecg.app.badinput import BAD_IMAGES, cases

pytestmark = pytest.mark.slow  # end-to-end: `make test-fast` leaves it out

NAMES = [c.name for c in cases()]


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Verdict]:
    return {v.name: v for v in run_cases(cases(), tmp_path_factory.mktemp("ecg-bad-inputs"))}


def test_corpus_covers_the_issue_list() -> None:
    assert len(NAMES) == len(set(NAMES))
    wanted = {"png_truncated", "png_zero_bytes", "png_not_an_image", "page_blank", "page_rotated_90",
              "page_rotated_180", "image_tiny", "image_huge", "page_no_grid", "csv_missing_lead",
              "csv_misnamed_lead", "csv_lead_all_nan", "csv_inf_value", "csv_wrong_row_count",
              "test_row_without_image", "image_without_row", "unknown_task", "disk_full_submission"}
    assert wanted <= set(NAMES)
    assert all(c.expected for c in cases())
    assert len(BAD_IMAGES) >= 10


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_is_handled_as_specified(verdicts: dict[str, Verdict], name: str) -> None:
    v = verdicts[name]
    assert v.ok, f"{name}: expected: {v.expected}; observed: {v.observed}"


def test_failure_report_lines() -> None:
    from pipeline.ecg.app.stages import failure_lines

    lines = failure_lines("7", ["turned_180", "failed: /x/7.png: blank page", "x0_from_separators",
                                "low_confidence: I,II"])
    assert lines == ["7: failed: /x/7.png: blank page", "7: doubtful: turned_180", "7: doubtful: low_confidence: I,II"]
