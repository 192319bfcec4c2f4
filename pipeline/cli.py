"""`python -m pipeline TASK COMMAND ...`: one CLI, a subcommand per stage and per step.

    python -m pipeline ecg stage2
    python -m pipeline ecg digitize page.png --out preds/
    python -m pipeline ecg score truth/ preds/
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from pipeline.core.errors import PipelineError
from pipeline.tasks import STAGE_NAMES, TASK_MODULES, load_task


def build_parser(task: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    tasks = parser.add_subparsers(dest="task", metavar="TASK", required=True)
    for name in TASK_MODULES:
        sub = tasks.add_parser(name, help=f"the {name} task")
        commands = sub.add_subparsers(dest="command", metavar="COMMAND", required=True)
        if name != task:
            continue  # only the chosen task's module is imported
        module = load_task(name)
        for stage in STAGE_NAMES:
            p = commands.add_parser(stage, help=(module.STAGES[stage].__doc__ or "").strip().split("\n")[0])
            p.add_argument("--force", action="store_true", help="run even if inputs and config are unchanged")
            p.set_defaults(func=module.STAGES[stage])
            if hasattr(module, "configure_stage"):
                module.configure_stage(stage, p)
        module.add_commands(commands)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that cleanups run (atomic writes drop their temp files)."""


_terminated = threading.Event()
"""Set by the handler: a library's bare `except:` (or a `__del__`) can swallow the raised Terminated, and
the command must still end as terminated instead of carrying on and exiting 0."""


def _on_sigterm(signum: int, frame: object) -> None:
    _terminated.set()
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    task = next((a for a in argv if not a.startswith("-")), None)
    in_main = threading.current_thread() is threading.main_thread()
    _terminated.clear()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
    try:
        if task is not None and task not in TASK_MODULES:
            load_task(task)  # raises the one-line unknown-task error
        args = build_parser(task).parse_args(argv)
        args.func(args)
        if _terminated.is_set():
            raise Terminated()
    except PipelineError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as err:
        print("interrupted; finished results are kept, rerun to resume", file=sys.stderr)
        return 143 if isinstance(err, Terminated) else 130
    finally:
        if in_main and previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


def set_threads() -> None:
    """Cap BLAS/numba/torch threads to the cores we have, before heavy imports."""
    n = str(os.cpu_count() or 1)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(var, n)
