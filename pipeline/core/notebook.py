"""Figure display for the notebooks in notebooks/: importing this module selects matplotlib's Agg backend
(the same off-screen rendering in Jupyter, nbclient and CI), and `show` puts a figure in the cell output
as a PNG, since Agg has no inline display of its own."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
from matplotlib.figure import Figure  # noqa: E402

DPI = 80


def png_bytes(fig: Figure, dpi: int = DPI) -> bytes:
    """The figure as PNG bytes; the figure is closed afterwards (notebooks draw many, keep none)."""
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return buf.getvalue()


def show(fig: Figure, dpi: int = DPI) -> None:
    """Display the figure as a PNG in the current cell's output, and close it."""
    from IPython.display import Image, display

    display(Image(data=png_bytes(fig, dpi), format="png"))
