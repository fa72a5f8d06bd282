"""Hyperparameter laws: the best learning rate and batch size at each (N, D) of a sweep, then power laws through them.

Two published forms are fitted side by side:
- Step Law (Li et al. 2025): lr* = k N^a D^b and B* = k D^a;
- DeepSeek LLM (2024): lr* = k C^a and B* = k C^a, with C = 6 N D under the fit's N convention (DeepSeek's own C
  counts non-embedding FLOPs per token, which `params: non_embedding` approximates).
The lr optimum at an (N, D) is located in log lr at the batch size whose best loss is lowest; the batch optimum
over log B using each batch size's best loss over lr. An optimum at the edge of its grid is only a bound (the
true optimum lies beyond the grid): it is reported, checked against the law, and never regressed as a value.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from scaling.accounting import compute
from scaling.errors import UserError
from scaling.fit.points import SettingMean
from scaling.fit.power_law_multi import MultiPowerLawFit, fit_multi_power_law

LR_AXIS = "optimizer.lr"
BATCH_AXIS = "batch_size"
TARGETS = {"lr": LR_AXIS, "batch_size": BATCH_AXIS}
FORMS: dict[str, dict[str, tuple[str, ...]]] = {  # target -> form -> the law's inputs
    "lr": {"step": ("N", "D"), "deepseek": ("C",)},
    "batch_size": {"step": ("D",), "deepseek": ("C",)},
}


@dataclass(frozen=True)
class HyperOptimum:
    """The best value of one hyperparameter at one (N, D); `how` says how it was located."""

    target: str  # "lr" or "batch_size"
    N: float
    D: float
    value: float
    loss: float
    how: str  # "parabola" (vertex in log x through the best three), "grid", or "below"/"above" (a bound)

    @property
    def is_bound(self) -> bool:
        """True when the best value sat at the grid's edge: the optimum is beyond it, not at it."""
        return self.how in ("below", "above")

    @property
    def C(self) -> float:
        return float(compute(self.N, self.D))


@dataclass
class HyperLaw:
    """One fitted form for one hyperparameter, or why it could not be fitted (`fit` None, `note` says)."""

    target: str
    form: str
    inputs: tuple[str, ...]
    fit: MultiPowerLawFit | None = None
    note: str = ""
    bounds_violated: list[dict[str, Any]] = field(default_factory=list)  # edge optima the law contradicts

    def predict(self, n: float, d: float) -> float:
        """The law's optimum at (N, D); UserError when there is no law."""
        if self.fit is None:
            raise UserError(f"no {self.form} law for {self.target}: {self.note}")
        values = {"N": n, "D": d, "C": float(compute(n, d))}
        return float(self.fit.predict(**{name: values[name] for name in self.inputs}))

    def describe(self) -> str:
        if self.fit is None:
            return f"{self.target} ({self.form}): not fitted ({self.note})"
        iv = self.fit.intervals
        terms = ", ".join(f"{name}^{self.fit.exponents[name]:.3g} [{iv[name][0]:.3g}, {iv[name][1]:.3g}]"
                          for name in self.inputs if name in iv)
        return f"{self.target} ({self.form}): {self.fit.coefficient:.3g} * {terms} on {self.fit.n_points} optima"

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "form": self.form, "inputs": list(self.inputs),
                "fit": None if self.fit is None else self.fit.to_dict(), "note": self.note,
                "bounds_violated": self.bounds_violated}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HyperLaw:
        fit = data.get("fit")
        return cls(data["target"], data["form"], tuple(data["inputs"]),
                   None if fit is None else MultiPowerLawFit.from_dict(fit), data.get("note", ""),
                   list(data.get("bounds_violated") or []))


@dataclass
class HyperLaws:
    """Every hyperparameter law of a sweep with the optima they were fitted to."""

    optima: list[HyperOptimum]
    laws: dict[str, HyperLaw]  # "lr:step", "lr:deepseek", "batch_size:step", ...

    def law(self, target: str, form: str = "step") -> HyperLaw | None:
        return self.laws.get(f"{target}:{form}")

    def propose(self, n: float, d: float, form: str = "step") -> dict[str, float]:
        """The hyperparameters the fitted laws give a model of N parameters trained on D tokens."""
        out = {}
        for target in TARGETS:
            law = self.law(target, form)
            if law is not None and law.fit is not None:
                out[target] = law.predict(n, d)
        return out

    def describe(self) -> str:
        return "; ".join(law.describe() for law in self.laws.values())

    def to_dict(self) -> dict[str, Any]:
        return {"optima": [asdict(o) for o in self.optima], "laws": {k: v.to_dict() for k, v in self.laws.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HyperLaws:
        return cls([HyperOptimum(**o) for o in data.get("optima", [])],
                   {k: HyperLaw.from_dict(v) for k, v in (data.get("laws") or {}).items()})


def optimum_in_log(target: str, n: float, d: float, xs: np.ndarray, losses: np.ndarray) -> HyperOptimum:
    """The best x of a 1-d grid at (N, D): a parabola vertex in log x through the best three, or a bound."""
    order = np.argsort(xs)
    log_x, losses = np.log(xs[order]), losses[order]
    i = int(np.argmin(losses))
    best = float(losses[i])
    if len(xs) > 1 and i == 0:
        return HyperOptimum(target, n, d, float(np.exp(log_x[0])), best, "below")
    if len(xs) > 1 and i == len(xs) - 1:
        return HyperOptimum(target, n, d, float(np.exp(log_x[-1])), best, "above")
    if 0 < i < len(xs) - 1:
        a2, a1, a0 = np.polyfit(log_x[i - 1:i + 2], losses[i - 1:i + 2], 2)
        if a2 > 0:
            vertex = -a1 / (2 * a2)
            return HyperOptimum(target, n, d, float(np.exp(vertex)), float(a0 - a1**2 / (4 * a2)), "parabola")
    return HyperOptimum(target, n, d, float(np.exp(log_x[i])), best, "grid")


def locate_optima(candidates: list[SettingMean]) -> list[HyperOptimum]:
    """lr and batch-size optima at every (N, D) of the settings whose axes vary that hyperparameter."""
    by_point: dict[tuple[float, float], list[SettingMean]] = defaultdict(list)
    for c in candidates:
        by_point[(c.n, c.representative.d)].append(c)
    out = []
    for (n, d), rows in sorted(by_point.items()):
        by_batch: dict[Any, list[SettingMean]] = defaultdict(list)
        for r in rows:
            by_batch[r.setting.get(BATCH_AXIS)].append(r)
        lr_at_batch = {b: _lr_optimum(n, d, rs) for b, rs in by_batch.items()}
        lr_found = [o for o in lr_at_batch.values() if o is not None]
        if lr_found:
            out.append(min(lr_found, key=lambda o: o.loss))
        batches = [b for b in by_batch if b is not None]
        if len(batches) > 1:
            best_loss = [lr_at_batch[b].loss if lr_at_batch[b] is not None else min(r.loss for r in by_batch[b])
                         for b in batches]
            out.append(optimum_in_log("batch_size", n, d, np.array(batches, float), np.array(best_loss)))
    return out


def _lr_optimum(n: float, d: float, rows: list[SettingMean]) -> HyperOptimum | None:
    lrs = [r.setting.get(LR_AXIS) for r in rows]
    if None in lrs or len(set(lrs)) < 2:
        return None
    return optimum_in_log("lr", n, d, np.array(lrs, float), np.array([r.loss for r in rows]))


def fit_hyper_laws(candidates: list[SettingMean], *, bootstrap: int = 200, seed: int = 0) -> HyperLaws | None:
    """The sweep's hyperparameter laws, or None when it varies neither the learning rate nor the batch size."""
    optima = locate_optima(candidates)
    if not optima:
        return None
    laws = {}
    for target, forms in FORMS.items():
        found = [o for o in optima if o.target == target]
        if not found:
            continue
        for form, inputs in forms.items():
            laws[f"{target}:{form}"] = fit_one(target, form, inputs, found, bootstrap=bootstrap, seed=seed)
    return HyperLaws(optima, laws)


def fit_one(target: str, form: str, inputs: tuple[str, ...], optima: list[HyperOptimum], *, bootstrap: int = 200,
            seed: int = 0) -> HyperLaw:
    """One form through the interior optima; edge optima are kept as bounds the fitted law is checked against."""
    interior = [o for o in optima if not o.is_bound]
    law = HyperLaw(target, form, inputs)
    columns = {name: np.array([getattr(o, name) for o in interior], float) for name in inputs}
    distinct = {name: np.unique(col).size for name, col in columns.items()}
    short = [name for name, k in distinct.items() if k < 2]
    if len(interior) <= len(inputs) + 1 or short:
        bounds = len(optima) - len(interior)
        need = f"{len(inputs) + 2} interior optima" + (f" with {', '.join(short)} varying" if short else "")
        law.note = (f"{len(interior)} interior optima ({bounds} at the grid's edge); this form needs {need}: "
                    "widen the grid or add sizes and budgets")
        return law
    try:
        law.fit = fit_multi_power_law(np.array([o.value for o in interior]), columns, bootstrap=bootstrap,
                                      seed=seed)
    except UserError as exc:
        law.note = str(exc)
        return law
    for o in optima:
        if not o.is_bound:
            continue
        predicted = law.predict(o.N, o.D)
        if (o.how == "above" and predicted < o.value) or (o.how == "below" and predicted > o.value):
            law.bounds_violated.append({"N": o.N, "D": o.D, "bound": o.how, "edge": o.value,
                                        "predicted": predicted})
    return law


def annotate_trials(trials: list[dict[str, Any]], hyper: HyperLaws | None) -> str:
    """Add the laws' lr and batch size to proposed trials (dicts with N and D); returns which laws gave them.

    The Step-Law form is preferred (it sees N and D apart); the DeepSeek form stands in where it alone fitted.
    A proposal past the sweep's largest N or D is an extrapolation of the law, like any other.
    """
    if hyper is None:
        return "the sweep varies neither lr nor batch size: no hyperparameter laws"
    used = []
    for target in TARGETS:
        law = next((law for form in ("step", "deepseek") if (law := hyper.law(target, form)) and law.fit), None)
        if law is None:
            continue
        used.append(f"{target}: {law.form} form")
        for trial in trials:
            trial[target] = law.predict(trial["N"], trial["D"])
    return "; ".join(used) or "no hyperparameter law could be fitted: " + hyper.describe()
