"""The ``gradfit`` command line.

``gradfit fit`` goes from a CSV or Parquet file to a fitted model file, an HTML report and
predictions in one command; ``gradfit predict`` applies a saved model to new data;
``gradfit report`` and ``gradfit sweep`` draw; ``gradfit explain``, ``gradfit diagnose`` and
``gradfit check-gradient`` answer questions about the method on your data; ``gradfit demo``
fits real datasets bundled with scikit-learn and writes a report, every number computed on
the spot.

Exit status: 0 on success; 1 when ``check-gradient`` finds a mistake or a fit with your own
learning rate diverges; 2 for usage and data errors (one or two lines on stderr naming the
cause and the fix; ``--debug`` adds the traceback); 130, 143 or 129 when stopped by SIGINT
(Ctrl-C), SIGTERM or SIGHUP, after removing temporary files and caches.
"""

from .main import Stopped, main, stop_on_signals

__all__ = ["Stopped", "main", "stop_on_signals"]
