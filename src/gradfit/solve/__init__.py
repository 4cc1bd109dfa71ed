"""Solving: the update rules, the one loop, its history, checkpoints, the certificate.

The loop owns stopping, the guard and the best iterate; the certificate checks every
answer. Internal: the public API is what :mod:`gradfit` exports.
"""
