"""pipeline.core.notebook: Agg is selected on import, and show displays a closed figure's PNG."""

from __future__ import annotations

import importlib

import matplotlib
import pytest
from IPython.display import Image
from matplotlib.figure import Figure

from pipeline.core import notebook

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _figure() -> Figure:
    fig, ax = notebook.plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [0, 1])
    return fig


def test_import_selects_agg() -> None:
    matplotlib.use("svg")  # whatever was chosen before (a notebook's inline backend, MPLBACKEND) ...
    importlib.reload(notebook)
    assert matplotlib.get_backend().lower() == "agg"  # ... importing the module switches to Agg


def test_png_bytes_is_a_png_at_the_given_dpi_and_closes_the_figure() -> None:
    fig = _figure()
    data = notebook.png_bytes(fig, dpi=50)
    assert data.startswith(PNG_MAGIC)
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (100, 50)  # 2 x 1 inches at 50 dpi
    assert not notebook.plt.fignum_exists(fig.number)


def test_show_displays_the_png(monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[object] = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    fig = _figure()
    notebook.show(fig)
    assert len(shown) == 1 and isinstance(shown[0], Image)
    assert shown[0].data.startswith(PNG_MAGIC) and shown[0].format == "png"
    assert not notebook.plt.fignum_exists(fig.number)
