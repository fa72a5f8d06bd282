"""The stages that follow training, each reading a run directory and its store: fit, plot, compress."""
