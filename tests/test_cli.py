import argparse
import os
import signal
import subprocess
import sys

from pipeline import cli
from pipeline.cli import main


def test_unknown_task_is_one_clear_line(capsys) -> None:
    assert main(["nosuchtask", "stage0"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown TASK 'nosuchtask'" in err[0]


def test_help_lists_tasks() -> None:
    out = subprocess.run([sys.executable, "-m", "pipeline", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "ecg" in out.stdout


def test_sigterm_swallowed_inside_a_command_still_ends_it_as_terminated(monkeypatch, capsys) -> None:
    """A library's bare except (or a __del__) can swallow the Terminated the handler raises; the command
    then runs on, and must not exit 0 as if nobody had asked it to stop."""

    def swallowing(args: argparse.Namespace) -> None:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        except BaseException:  # noqa: BLE001 - what the library does
            pass

    parser = argparse.ArgumentParser()
    parser.set_defaults(func=swallowing)
    monkeypatch.setattr(cli, "build_parser", lambda task: parser)
    assert main([]) == 143
    assert "interrupted" in capsys.readouterr().err
    parser.set_defaults(func=lambda args: None)
    assert main([]) == 0  # the next command in this process starts afresh
