# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # ECG synthetic competition: a first look
#
# Builds a tiny synthetic competition (1 train record, 9 test images) in a temporary folder and looks
# at its files, the paper layout, every image type with its ground-truth paths, and one record's leads.

# %%
import os
import sys
from pathlib import Path

# The repo root goes on sys.path before `pipeline` is imported: PIPELINE_REPO_ROOT, else the first folder
# at or above the working directory that holds the package's notebook helpers.
ROOT = os.environ.get("PIPELINE_REPO_ROOT") or next(
    (d for d in (Path.cwd(), *Path.cwd().parents) if (d / "pipeline" / "core" / "notebook.py").is_file()), None)
if ROOT is None:
    raise RuntimeError("repo root not found: set PIPELINE_REPO_ROOT")
sys.path.insert(0, str(Path(ROOT).resolve()))

import matplotlib.pyplot as plt
from IPython.display import Image, display

from pipeline.core.notebook import show  # also selects the Agg backend

# %%
import tempfile

import pandas as pd

from pipeline.ecg.synth.render import make_competition

OUT = Path(tempfile.mkdtemp(prefix="ecg_eda_"))
make_competition(OUT, n_train=1, n_test=9, seed=0, workers=1)
sorted(p.name for p in OUT.iterdir())

# %% [markdown]
# ## train.csv and test.csv
# One row per train record (id, sampling rate, signal length); one row per (test image, lead).

# %%
train = pd.read_csv(OUT / "train.csv", dtype={"id": str})
test = pd.read_csv(OUT / "test.csv", dtype={"id": str})
display(train.head())
display(test.head(13))

# %% [markdown]
# ## The paper layout
# Three rows of four 2.5 s columns plus a 10 s lead II rhythm strip, 25 mm/s and 10 mm/mV.

# %%
from pipeline.ecg.layout import DEFAULT_LAYOUT, ROWS, PageLayout

layout_table = pd.DataFrame([{"row": r, "leads": ", ".join(leads), "baseline_y_px": DEFAULT_LAYOUT.baselines[r]}
                             for r, leads in enumerate(ROWS)])
display(layout_table)
lay = PageLayout()
print(f"page {lay.width}x{lay.height} px, {lay.px_per_mm:.3f} px/mm, {lay.px_per_s:.1f} px/s, "
      f"{lay.px_per_mv:.1f} px/mV, traces from x={lay.x0:.1f} to x={lay.x1:.1f}")

# %% [markdown]
# ## One page per image type, with its ground-truth paths

# %%
from pipeline.ecg.synth.contact_sheet import contact_sheet

sheet = contact_sheet(OUT / "contact_sheet.png", seed=0)
display(Image(filename=str(sheet)))

# %% [markdown]
# ## One record's 12 leads

# %%
from pipeline.ecg.layout import LEADS

record_id = train["id"].iloc[0]
fs = int(train["fs"].iloc[0])
record = pd.read_csv(OUT / "train" / record_id / f"{record_id}.csv")
t = record.index / fs
fig, axes = plt.subplots(len(LEADS), 1, figsize=(12, 14), sharex=True)
for ax, lead in zip(axes, LEADS):
    ax.plot(t, record[lead], lw=0.7)
    ax.set_ylabel(lead, rotation=0, labelpad=18)
axes[-1].set_xlabel("time (s)")
fig.suptitle(f"record {record_id} at {fs} Hz")
fig.tight_layout()
show(fig)
