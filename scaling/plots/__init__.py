"""Figures and reports from a run's points table and fit report (matplotlib, no pyplot, no JAX).

- `FigureContext`: the run directory, its `Store`, its `FitReport` and its points table (any may be missing).
- `scaling.plots.registry.FIGURES`: every figure, listed; `render_figures(ctx, out_dir)` draws them.
- `SkipFigure("why")`: a figure raises it when its inputs are missing; the report shows the reason.
- `new_figure()`, `colors_for()`, `LABELS`: the house style (Okabe-Ito colours, labelled axes with units).
"""
