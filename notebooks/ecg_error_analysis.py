# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # ECG digitizer: error analysis on a tiny synthetic competition
#
# Digitizes the 9 test images of a tiny synthetic competition, scores them against the hidden signals,
# breaks the SNR down by image type and draws the recovered paths over the worst image.

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

from pipeline.ecg.synth.render import make_competition

OUT = Path(tempfile.mkdtemp(prefix="ecg_errors_"))
make_competition(OUT, n_train=1, n_test=9, seed=0, workers=1)
types = pd.read_csv(OUT / "hidden" / "test_types.csv", dtype={"id": str, "image_type": str})
types

# %% [markdown]
# ## Digitize and score

# %%
from pipeline.ecg.digitizer.digitize import safe_digitize_file
from pipeline.ecg.evaluation.metric import score_frames

results, truth, pred = {}, {}, {}
fs_by_id = dict(zip(types["id"], types["fs"].astype(int)))
for image_id, fs in fs_by_id.items():
    results[image_id] = safe_digitize_file(OUT / "test" / f"{image_id}.png", fs)
    pred[image_id] = results[image_id].to_record()
    truth[image_id] = pd.read_csv(OUT / "hidden" / "signals" / f"{image_id}.csv")
report = score_frames(truth, pred, fs_by_id)
print(f"SNR {report.snr_db:.2f} dB over {report.n_images} images")

# %%
per_image = report.per_image.assign(id=report.per_image["id"].astype(str)).merge(types, on="id")
per_image["flags"] = [", ".join(results[i].flags) for i in per_image["id"]]
per_image.sort_values("snr_db")

# %% [markdown]
# ## SNR per image type
# Ids carry no "-NNNN" suffix in the test set, so the type comes from hidden/test_types.csv.

# %%
per_type = (per_image.groupby("image_type")
            .agg(n_images=("id", "size"), snr_db=("snr_db", "mean"), challenge2024_db=("challenge2024_db", "mean"))
            .reset_index())
display(per_type)
fig, ax = plt.subplots(figsize=(8, 3.5))
ax.bar(per_type["image_type"], per_type["snr_db"], color="tab:blue")
ax.axhline(0, color="k", lw=0.6)
ax.set_xlabel("image type")
ax.set_ylabel("mean SNR (dB)")
ax.set_title("digitizer SNR by image type")
fig.tight_layout()
show(fig)

# %% [markdown]
# ## The worst image, with the recovered paths

# %%
import cv2

from pipeline.ecg.evaluation.overlay import draw_paths

worst = per_image.sort_values("snr_db").iloc[0]
result = results[worst["id"]]
image_bgr = cv2.imread(str(OUT / "test" / f"{worst['id']}.png"), cv2.IMREAD_COLOR)
drawn = draw_paths(image_bgr, result.paths)
fig, ax = plt.subplots(figsize=(12, 9.5))
ax.imshow(cv2.cvtColor(drawn, cv2.COLOR_BGR2RGB))
ax.set_axis_off()
ax.set_title(f"{worst['id']} (type {worst['image_type']}): {worst['snr_db']:.2f} dB; "
             f"{len(result.paths)} paths; flags: {worst['flags'] or 'none'}")
fig.tight_layout()
show(fig)
