# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Circles: colour of the largest circle area
#
# The circles task end to end on data it generates itself (no competition attached, internet off): the
# project is installed from the attached wheels dataset (`make kaggle-dataset`), then stage2 generates
# the images (stage0), trains the small classifier (stage1) and predicts the test split. Predictions,
# the training curve and the model's metrics land in `/kaggle/working/`.
#
# Locations move with environment variables (the project's test runs this notebook on a fake tree):
# `KAGGLE_INPUT_DIR` (default `/kaggle/input`), `KAGGLE_WORKING_DIR` (`/kaggle/working`),
# `ECG_WHEELS_DIR` (found under the input dir when unset), `PIPELINE_SCRATCH_DIR` (`/tmp/pipeline`).
# `CIRCLES_N_IMAGES`, `CIRCLES_EPOCHS`, `CIRCLES_WORKERS` and `CIRCLES_SEED` override the task's defaults.

# %%
import argparse
import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

INPUT = Path(os.environ.get("KAGGLE_INPUT_DIR", "/kaggle/input"))
WORKING = Path(os.environ.get("KAGGLE_WORKING_DIR", "/kaggle/working"))
SCRATCH = Path(os.environ.get("PIPELINE_SCRATCH_DIR", "/tmp/pipeline"))
WHEELS_SLUG = "ecg-pipeline-wheels"


def find_wheels() -> Path | None:
    """The attached wheels dataset: /kaggle/input/<slug> or one or two levels deeper (newer mounts)."""
    if os.environ.get("ECG_WHEELS_DIR"):
        return Path(os.environ["ECG_WHEELS_DIR"])
    for candidate in [INPUT / WHEELS_SLUG, *sorted(INPUT.glob(f"*/{WHEELS_SLUG}")),
                      *sorted(INPUT.glob(f"*/*/{WHEELS_SLUG}"))]:
        if (candidate / "requirements.txt").is_file():
            return candidate
    return None


# %% [markdown]
# ## Install the project offline (skipped when it already imports)

# %%
try:
    from pipeline.cli import set_threads
except ModuleNotFoundError:
    WHEELS = find_wheels()
    if WHEELS is None:
        raise FileNotFoundError(f"attach the dataset '{WHEELS_SLUG}' (made by `make kaggle-dataset`)") from None
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--find-links",
                    str(WHEELS), "-r", str(WHEELS / "requirements.txt")], check=True)
    importlib.invalidate_caches()
    from pipeline.cli import set_threads

set_threads()  # thread caps before numpy and torch load
import pipeline  # noqa: E402

print("pipeline", pipeline.__version__, "from", Path(pipeline.__file__).parent)

# %% [markdown]
# ## Generate, train and predict (stage2 runs stage0 and stage1 as needed)

# %%
shutil.rmtree(SCRATCH, ignore_errors=True)
os.environ["PIPELINE_DATA"] = str(SCRATCH / "data")
os.environ["PIPELINE_WORK"] = str(SCRATCH / "work")
os.environ["PIPELINE_SUBMISSIONS"] = str(SCRATCH / "submissions")

from pipeline.cells.circles import stages as circles  # noqa: E402

overrides = {name: int(os.environ[f"CIRCLES_{name.upper()}"])
             for name in ("n_images", "epochs", "workers", "seed") if os.environ.get(f"CIRCLES_{name.upper()}")}
print("settings overridden:", overrides or "none")
circles.stage2(argparse.Namespace(force=False, **overrides))

# %% [markdown]
# ## Results

# %%
import json  # noqa: E402

import pandas as pd  # noqa: E402

WORKING.mkdir(parents=True, exist_ok=True)
shutil.copyfile(circles.submission_path(), WORKING / "circles.csv")
for name in ("metrics.json", "training_curve.png"):
    if (circles.model_dir() / name).is_file():
        shutil.copyfile(circles.model_dir() / name, WORKING / name)

predictions = pd.read_csv(WORKING / "circles.csv")
index = circles.load_index().set_index("id")
accuracy = (predictions["predicted"].to_numpy() == index.loc[predictions["id"], "label"].to_numpy()).mean()
print(f"{len(predictions)} test images, accuracy {accuracy:.4f}")
print(json.dumps(json.loads((WORKING / "metrics.json").read_text()), indent=1)[:2000])
predictions.head()
