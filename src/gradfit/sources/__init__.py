"""Sources: what each kind of input offers the planner.

Shape, names, one reading pass, a data-path problem, prediction; and the registry
that finds them. Internal: the public API is what :mod:`gradfit` exports. ``base``
holds ``Source`` and ``register``; ``sparse`` (SciPy), ``device`` (torch/CuPy),
``files`` (row streams, CSV/Parquet/.npy) and ``dask`` are the sources.
"""
