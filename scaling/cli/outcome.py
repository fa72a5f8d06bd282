"""Exit codes that tell the truth: what a finished `run`, `train` or `compress` did not do, as one summary line.

Policy (the README's "Exit codes"):
- 0: everything asked was done. Diverged trials are results (a learning rate too high for a size is what a
  sweep measures; the fit uses the best setting per point), so they only add a warning line.
- 1: something asked was not done: a trial or compression job failed (attempts used up), a trial was left
  unfinished, a requested law could not be fitted; or a single `scaling train` run diverged (it was asked for
  one trained model and has none).
- 2: a usage or input error (printed by `scaling.cli.main`); nothing was run.
- 130: interrupted (Ctrl-C / SIGTERM); re-running the same command resumes.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import typer

OK, FAILED, INTERRUPTED = 0, 1, 130


@dataclass(frozen=True)
class Outcome:
    """An exit code and the one line that explains it (None: nothing worth a line)."""

    code: int
    line: str | None = None


def of_pipeline(result: Any, stopped: bool = False) -> Outcome:
    """`scaling run`'s outcome from its PipelineResult (trial counts by status, stage outputs)."""
    counts: dict[str, int] = dict(result.trials)
    total = sum(counts.values())
    where = f"`scaling status {result.run_dir}`"
    stages: dict[str, Any] = result.stages or {}
    if result.interrupted or stopped or any(isinstance(o, dict) and o.get("interrupted") for o in stages.values()):
        left = total - counts.get("done", 0) - counts.get("diverged", 0) - counts.get("failed", 0)
        return Outcome(INTERRUPTED, f"interrupted: {counts.get('done', 0)} of {total} trials done, {left} left; "
                                    "re-run the same command to resume")
    problems = []
    if counts.get("failed"):
        problems.append(f"{counts['failed']} trial(s) failed")
    unfinished = counts.get("queued", 0) + counts.get("running", 0)
    if unfinished:
        problems.append(f"{unfinished} trial(s) not run")
    problems += _stage_problems(stages)
    diverged = f"{counts['diverged']} trial(s) diverged (results, kept out of the fit)" if counts.get("diverged") \
        else None
    if problems:
        return Outcome(FAILED, f"incomplete: {'; '.join(problems + ([diverged] if diverged else []))}; see {where}")
    if diverged:
        return Outcome(OK, f"warning: {diverged}; see {where}")
    return Outcome(OK)


def _stage_problems(stages: dict[str, Any]) -> list[str]:
    """What the stages were asked and did not do: laws not fitted, compression jobs not done."""
    problems = []
    fit = stages.get("fit")
    if isinstance(fit, dict) and fit.get("failed"):
        problems.append(f"fit: {', '.join(fit['failed'])} not fitted")
    compress = stages.get("compress")
    if isinstance(compress, dict) and compress.get("done", 0) < compress.get("jobs", 0):
        problems.append(of_compress(compress).line or "compress: jobs not done")
    return problems


def of_compress(out: dict[str, Any]) -> Outcome:
    """`scaling compress`'s outcome from the stage's output (done / jobs, interrupted)."""
    if out.get("interrupted"):
        return Outcome(INTERRUPTED, "interrupted: re-run the same command to resume the compression jobs")
    missing = out.get("jobs", 0) - out.get("done", 0)
    if missing > 0:
        return Outcome(FAILED, f"compress: {missing} of {out['jobs']} compression job(s) not done (failed)")
    return Outcome(OK)


def of_training(result: Any) -> Outcome:
    """`scaling train`'s outcome from its TrainResult (status done, diverged or interrupted)."""
    if result.status == "interrupted":
        return Outcome(INTERRUPTED, f"interrupted at step {result.steps}: re-run the same command to resume "
                                    "from its checkpoint")
    if result.status != "done":
        reason = f" ({result.reason})" if result.reason else ""
        return Outcome(FAILED, f"{result.status} at step {result.steps}{reason}: no trained model; try a lower "
                               "optimizer.lr or more warmup")
    return Outcome(OK)


def finish(outcome: Outcome) -> None:
    """Print the outcome's line (stderr) and end the command with its code when that is not 0."""
    if outcome.line:
        print(outcome.line, file=sys.stderr)
    if outcome.code:
        raise typer.Exit(outcome.code)
