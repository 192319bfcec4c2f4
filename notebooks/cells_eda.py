# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Circles: what the generated images look like
#
# Generates a handful of CircleFarmer-style images (label: the colour with the largest visible area),
# shows them with their labels and the class counts, then, when the real CircleFarmer sample is present
# in /work/shared/circlefarmer (or CIRCLEFARMER_DIR), reads it with the project's reader.

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
from IPython.display import display

from pipeline.core.notebook import show  # also selects the Agg backend

# %%
import tempfile

import pandas as pd

from pipeline.cells.circles.farmer_format import write_sample
from pipeline.cells.circles.generate import CircleConfig, generate_sample, to_annotation

OUT = Path(tempfile.mkdtemp(prefix="cells_eda_"))
cfg = CircleConfig()
N = 12
samples = [generate_sample(cfg, seed=0, index=i) for i in range(N)]
for s in samples:
    write_sample(OUT, s.rgb, to_annotation(s, cfg.size))
table = pd.DataFrame([{"name": s.name, "label": s.layout.label, "n_circles": len(s.layout.circles),
                       "margin": round(s.layout.margin, 3), **s.layout.areas} for s in samples])
table

# %% [markdown]
# ## The images and their labels

# %%
fig, axes = plt.subplots(3, 4, figsize=(12, 9.5))
for ax, s in zip(axes.flat, samples):
    ax.imshow(s.rgb)
    ax.set_title(f"{s.name}: {s.layout.label} ({len(s.layout.circles)} circles)", fontsize=9)
    ax.set_axis_off()
fig.tight_layout()
show(fig)

# %% [markdown]
# ## Class counts

# %%
counts = table["label"].value_counts().reindex(list(cfg.colours), fill_value=0).rename_axis("label").reset_index(name="n")
display(counts)
print("written to", OUT, ":", len(list(OUT.glob("*.png"))), "images")

# %% [markdown]
# ## The real CircleFarmer sample (when present)

# %%
from pipeline.cells.circles.farmer_format import list_samples, read_annotation, read_image

FARMER = Path(os.environ.get("CIRCLEFARMER_DIR", "/work/shared/circlefarmer"))
if FARMER.is_dir():
    real = list_samples(FARMER)
    rows = []
    for smp in real:
        ann = read_annotation(smp.annotation_path)
        areas = {}
        for label in ann.labels:
            areas[label.name] = areas.get(label.name, 0) + int(label.mask(ann.height, ann.width).sum())
        rows.append({"name": smp.name, "split": smp.image_path.parent.name, "n_circles": len(ann.labels),
                     "largest_total_disc_area": max(areas, key=areas.get) if areas else None})
    real_table = pd.DataFrame(rows)
    display(real_table.groupby("split").agg(n_images=("name", "size"), mean_circles=("n_circles", "mean")))
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.4))
    for ax, smp in zip(axes, real[:4]):
        ax.imshow(read_image(smp.image_path))
        ax.set_title(smp.name, fontsize=9)
        ax.set_axis_off()
    fig.tight_layout()
    show(fig)
else:
    print(f"no CircleFarmer sample at {FARMER}; skipped")
