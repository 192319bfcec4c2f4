"""The task registry: TASK name -> module that implements its stages and step commands.

A task module exposes `STAGES: dict[str, Callable[[argparse.Namespace], None]]` (stage0..stage3) and
`add_commands(subparsers)`, which adds its step subcommands (each sets `func` on its parser), and
optionally `configure_stage(stage, parser)` to add a stage's own options.
Modules are imported lazily so that `python -m pipeline --help` stays fast.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from pipeline.core.errors import PipelineError

TASK_MODULES: dict[str, str] = {
    "ecg": "pipeline.ecg.app.stages",
    "circles": "pipeline.cells.circles.stages",
    "breast": "pipeline.cells.tasks.breast",
    "leukemia": "pipeline.cells.tasks.leukemia",
    "all": "pipeline.cells.tasks.all",
    "blood": "pipeline.cells.tasks.blood",
    "marrow": "pipeline.cells.tasks.marrow",
}
STAGE_NAMES = ("stage0", "stage1", "stage2", "stage3")


def load_task(name: str) -> ModuleType:
    if name not in TASK_MODULES:
        raise PipelineError(f"unknown TASK '{name}'; choose one of {', '.join(sorted(TASK_MODULES))}")
    return importlib.import_module(TASK_MODULES[name])
