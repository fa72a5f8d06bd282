"""Built-in figures; each module registers its figures with `scaling.plots.registry.register_figure`."""
