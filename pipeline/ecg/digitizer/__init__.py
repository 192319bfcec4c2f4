"""The digitizer: a page image in, 12 lead signals out. Arrays in and out; imports only `layout` and `core`.

The public surface is listed here; the steps live one per module (see README.md in this folder).
"""

from pipeline.ecg.digitizer.digitize import DigitizeConfig, digitize_file, digitize_image, safe_digitize_file
from pipeline.ecg.digitizer.flags import DOUBTFUL, Flag, flag_name, is_doubtful, is_failed
from pipeline.ecg.digitizer.result import Digitized, zero_result

__all__ = [
    "DOUBTFUL",
    "DigitizeConfig",
    "Digitized",
    "Flag",
    "digitize_file",
    "digitize_image",
    "flag_name",
    "is_doubtful",
    "is_failed",
    "safe_digitize_file",
    "zero_result",
]
