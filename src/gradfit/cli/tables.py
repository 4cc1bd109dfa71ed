"""Command-line options for real tables: columns left out, delimiters, missing values, levels.

Kept apart from :mod:`gradfit.cli` so that the options and their help read in one place:
``--exclude``, ``--sep``, ``--missing``, ``--max-levels`` (every command that reads a table
to fit) and ``--unknown`` (``gradfit predict``). Repeating ``--target``/``--features``/
``--exclude`` extends the list (``action="extend"``), as ``-t a b`` does.
"""

from __future__ import annotations

import argparse
from typing import Any

from .._encode import MAX_LEVELS

__all__ = ["add_table_arguments", "add_unknown_argument", "table_options"]


def _sep(text: str) -> str:
    from .._exceptions import GradfitInputError
    from .._io import parse_sep

    try:
        value = parse_sep(text)
    except GradfitInputError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    assert value is not None
    return value


def _levels(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a positive whole number of levels")
    return value


def add_table_arguments(parser: argparse.ArgumentParser) -> None:
    r"""``--exclude``, ``--sep``, ``--missing`` and ``--max-levels``.

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> add_table_arguments(parser)
    >>> args = parser.parse_args(["--exclude", "id", "--exclude", "name", "--sep", "tab"])
    >>> args.exclude, args.sep, args.missing, args.max_levels
    (['id', 'name'], '\t', 'error', 100)
    """
    parser.add_argument(
        "--exclude",
        "-x",
        nargs="+",
        action="extend",
        metavar="COL",
        help="columns to leave out of the default features (an id, say); may be repeated",
    )
    parser.add_argument(
        "--sep",
        type=_sep,
        metavar="CHAR",
        help="the delimiter of a text table: ';', '|', tab, … (default ',', tab for .tsv)",
    )
    parser.add_argument(
        "--missing",
        choices=("error", "drop"),
        default="error",
        help="rows with a missing value in a used column: error (default: counts them and "
        "names the first) or drop (leaves them out and says how many)",
    )
    parser.add_argument(
        "--max-levels",
        type=_levels,
        default=MAX_LEVELS,
        metavar="N",
        help=f"the most levels a text column may have to be one-hot encoded (default "
        f"{MAX_LEVELS}); more is an error naming the column",
    )


def add_unknown_argument(parser: argparse.ArgumentParser) -> None:
    """``--unknown error|zeros`` for prediction."""
    parser.add_argument(
        "--unknown",
        choices=("error", "zeros"),
        default="error",
        help="a level of a text column not seen in fitting: error (default, naming the column "
        "and the value) or zeros (every indicator 0: predicted as the reference level)",
    )


def table_options(args: argparse.Namespace) -> dict[str, Any]:
    """The table options of ``args`` as keywords (defaults when a command lacks them).

    Examples
    --------
    >>> table_options(argparse.Namespace(exclude=["id"], sep=";"))
    {'exclude': ['id'], 'sep': ';', 'missing': 'error', 'max_levels': 100}
    """
    return {
        "exclude": list(getattr(args, "exclude", None) or []),
        "sep": getattr(args, "sep", None),
        "missing": getattr(args, "missing", "error"),
        "max_levels": getattr(args, "max_levels", MAX_LEVELS),
    }
