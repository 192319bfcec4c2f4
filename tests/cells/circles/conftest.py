from pathlib import Path

import pytest

from pipeline.cells.circles.shift import circlefarmer_sample_dir


@pytest.fixture(scope="session")
def farmer_dir() -> Path:
    """The real CircleFarmer sample in ../shared/circlefarmer (read in place, never copied)."""
    path = circlefarmer_sample_dir()
    if path is None:
        pytest.skip("shared CircleFarmer sample (../shared/circlefarmer) not present")
    return path
