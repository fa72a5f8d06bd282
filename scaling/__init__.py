"""scaling: sweep model families over compute, data and compression; fit the laws; pick the compute-optimal runs."""

__version__ = "0.1.0"
