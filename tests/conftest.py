"""Shared test settings.

Hypothesis draws the same examples on every run (``derandomize``), so a green suite stays
green on a fresh CI checkout and a failure reproduces anywhere. To hunt for new failures
locally, run with ``HYPOTHESIS_PROFILE=explore`` (random examples, a local database).
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
