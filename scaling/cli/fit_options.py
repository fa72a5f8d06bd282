"""The options of `scaling fit` / `scaling suggest` as given, checked for a CSV or applied to a run directory.

One place says which option means what where: a CSV fit takes column names, a run directory's fit starts from
its sweep's `stages.fit` settings and overrides only what the user gave. Every check here runs before any file
is opened for writing, so a mistake (exit 2) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scaling.errors import UserError

# CSV defaults of the options that a run directory takes from its sweep instead.
CSV_DEFAULTS: dict[str, Any] = {"law": "chinchilla", "loss": "loss", "method": "huber-grid", "bootstrap": 0,
                                "seed": 0, "holdout": 0, "delta": 1e-3, "objective": "huber-log"}
RUN_DIR_INPUTS = frozenset({"n", "d", "u"})  # what the fit stage hands a law: N, D and (repeated data) U per point
RUN_DIR_LOSSES = ("val_loss", "train_loss")
# Options that name a CSV's columns, and what a run directory does instead.
REFUSED_FOR_RUN_DIR: dict[str, str] = {
    "--n": "N follows stages.fit.params (give --set stages.fit.params=total or non_embedding)",
    "--d": "D is each trial's trained tokens",
    "--c": "C follows stages.fit.compute (give --set stages.fit.compute=exact or 6nd)",
    "--u": "a run directory records no unique-token counts; fit a law on N and D",
    "--x": "a run directory's inputs are N and D; fit a law on N and D",
    "--col": "a run directory's inputs are N and D; fit a law on N and D",
    "--group": "the fit stage groups seed replicates of one setting itself",
}
RUN_DIR_ONLY = ("--set", "--list", "--version", "--resample")
RESAMPLE = ("sizes", "rows")  # a run directory's bootstrap unit (a table resamples rows, or --group's runs)


@dataclass
class FitOptions:
    """`scaling fit`'s options exactly as given: None (or empty, or False) where the user gave nothing."""

    laws: list[str] = field(default_factory=list)
    method: str | None = None
    bootstrap: int | None = None
    seed: int | None = None
    loss: str | None = None
    holdout: int | None = None
    target_flops: float | None = None
    delta: float | None = None
    objective: str | None = None
    resample: str | None = None
    tied: bool = False
    columns: dict[str, Any] = field(default_factory=dict)  # --n --d --c --u --x --col --group, by option name

    def given_columns(self) -> list[str]:
        """The column options the user gave."""
        return [name for name, value in self.columns.items() if value]

    def any_given(self) -> bool:
        """Whether any fitting option was given at all (`--list` and `--version` take none)."""
        scalars = (self.method, self.bootstrap, self.seed, self.loss, self.holdout, self.target_flops, self.delta,
                   self.objective, self.resample)
        return bool(self.laws or self.tied or self.given_columns() or any(v is not None for v in scalars))


def check_numbers(opts: FitOptions) -> None:
    """The numeric options' ranges, the same for a CSV and a run directory."""
    if opts.bootstrap is not None and opts.bootstrap < 0:
        raise UserError(f"--bootstrap must be >= 0 (0: no intervals), got {opts.bootstrap}")
    if opts.holdout is not None and opts.holdout < 0:
        raise UserError(f"--holdout must be >= 0 budgets (0: no backtest), got {opts.holdout}")
    if opts.delta is not None and not opts.delta > 0:
        raise UserError(f"--delta must be a positive Huber delta (default 1e-3), got {opts.delta}")
    if opts.target_flops is not None and not opts.target_flops > 0:
        raise UserError(f"--target-flops must be a positive number of FLOPs, got {opts.target_flops}")


def check_objective(objective: str | None) -> None:
    """UserError naming --objective and the valid objectives."""
    from scaling.fit.objective import OBJECTIVES

    if objective is not None and objective not in OBJECTIVES:
        raise UserError(f"--objective: unknown objective {objective!r}; valid: {', '.join(OBJECTIVES)}")


def check_resample(resample: str | None) -> None:
    """UserError naming --resample and its two values."""
    if resample is not None and resample not in RESAMPLE:
        raise UserError(f"--resample: unknown unit {resample!r}; valid: {', '.join(RESAMPLE)}")


def check_method(method: str | None) -> None:
    """UserError naming --method and the valid methods."""
    from scaling.fit.estimators import METHODS

    if method is not None and method not in METHODS:
        raise UserError(f"--method: unknown method {method!r}; valid: {', '.join(METHODS)}")


def check_law(name: str, inputs: frozenset[str] | None = None) -> None:
    """UserError naming --law and the valid laws (those fed by `inputs` only, when given)."""
    from scaling.fit.registry import LAWS

    valid = sorted(k for k, law in LAWS.items() if inputs is None or set(law.inputs) <= inputs)
    if name not in LAWS:
        raise UserError(f"--law: unknown law {name!r}; valid{' here' if inputs else ''}: {', '.join(valid)}")
    missing = set(LAWS[name].inputs) - (inputs or set(LAWS[name].inputs))
    if missing:
        raise UserError(f"--law {name!r} needs {', '.join(sorted(missing))}, which a run directory does not record;"
                        f" laws on N, D (and U): {', '.join(valid)}")


def csv_options(opts: FitOptions, run_dir_only: dict[str, bool]) -> dict[str, Any]:
    """The options for a CSV fit with the CSV defaults filled in; UserError for run-directory-only options."""
    given = [name for name, value in run_dir_only.items() if value]
    if given:
        raise UserError(f"{given[0]} applies to a sweep's run directory (with store.sqlite), not to a table file")
    if len(opts.laws) > 1:
        raise UserError(f"--law: a table fit takes one law, got {len(opts.laws)} ({', '.join(opts.laws)}); "
                        "run one fit per law")
    check_numbers(opts)
    check_method(opts.method)
    check_objective(opts.objective)
    out = {key: getattr(opts, key) if getattr(opts, key) is not None else default
           for key, default in CSV_DEFAULTS.items() if key != "law"}
    out["law"] = opts.laws[0] if opts.laws else CSV_DEFAULTS["law"]
    check_law(out["law"])
    return out


def run_dir_config(base: Any, opts: FitOptions) -> Any:
    """The sweep's `stages.fit` settings (`base`) with exactly the given options applied, validated."""
    from scaling.config import validate
    from scaling.fit.registry import get_law
    from scaling.sweep.schema import FitStageConfig

    refused = opts.given_columns()
    if refused:
        raise UserError(f"{refused[0]} names a table's column; for a run directory {REFUSED_FOR_RUN_DIR[refused[0]]}")
    check_numbers(opts)
    check_method(opts.method)
    check_objective(opts.objective)
    check_resample(opts.resample)
    for name in opts.laws:
        check_law(name, RUN_DIR_INPUTS)
    if opts.loss is not None and opts.loss not in RUN_DIR_LOSSES:
        raise UserError(f"--loss {opts.loss!r}: a run directory's loss is one of {', '.join(RUN_DIR_LOSSES)}")
    update: dict[str, Any] = {key: getattr(opts, key) for key in
                              ("method", "bootstrap", "seed", "loss", "holdout", "target_flops", "delta", "objective",
                               "resample")
                              if getattr(opts, key) is not None}
    laws = list(opts.laws or base.laws)
    if opts.tied:
        tied = {name: get_law(name).configure(tied=True).name for name in laws if _has_tied(name)}
        untied = [name for name in laws if name not in tied]
        if untied:
            raise UserError(f"--tied: law {untied[0]!r} has no tied form; laws with one: chinchilla, muennighoff")
        laws = list(dict.fromkeys(tied.values()))
    if opts.laws or opts.tied:
        update["laws"] = laws
    return validate(FitStageConfig, {**base.model_dump(mode="json"), **update}, "scaling fit options")


def _has_tied(name: str) -> bool:
    """Whether a registered law has a tied (alpha = beta) form."""
    from scaling.fit.registry import get_law

    try:
        get_law(name).configure(tied=True)
    except UserError:
        return False
    return True
