"""Understanding a fit: explain, diagnose, inference and their rendering.

Explain answers the seed's questions on the user's data; inference gives standard
errors and robust covariances. Internal: the public API is what :mod:`gradfit` exports.
"""
