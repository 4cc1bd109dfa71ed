"""The problem: the planner, the objective, curvature, the exact solve, the kernels.

The planner chooses an engine; the objective (loss, gradient, Hessian-vector products)
is on the data path or on the sufficient statistics. Internal: the public API is what
:mod:`gradfit` exports.
"""
