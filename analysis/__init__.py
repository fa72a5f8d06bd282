"""Scripts that reproduce published scaling-law results from ../shared/data/scaling-runs with the library."""
