"""Writing files so that a crash never leaves a half-written one.

Every file gradfit writes for a person (a model, a report, predictions) goes through
:func:`atomic_write`: the bytes go to a temporary file in the same folder, are flushed
to disk, and the temporary file then replaces the target in one ``os.replace``. A
reader sees the old file or the new one, never a mixture, and an interrupted write
leaves the old file as it was.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["atomic_write", "describe_size"]


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` and move it onto ``path`` when the block ends.

    Parameters
    ----------
    path : str or Path
        The file to (re)place; its folder must exist.
    mode : {"wb", "w"}, default="wb"
        Binary or text.
    **kwargs
        Passed to :func:`open` (``encoding=``, ``newline=``).

    Yields
    ------
    file object

    Examples
    --------
    >>> import tempfile, os
    >>> target = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> with atomic_write(target, "w", encoding="utf-8") as f:
    ...     _ = f.write("hello")
    >>> open(target).read()
    'hello'
    >>> try:
    ...     with atomic_write(target, "w", encoding="utf-8") as f:
    ...         _ = f.write("half")
    ...         raise KeyboardInterrupt
    ... except KeyboardInterrupt:
    ...     pass
    >>> open(target).read(), sorted(os.listdir(os.path.dirname(target)))
    ('hello', ['out.txt'])
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode={mode!r}: use 'wb' or 'w'")
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(
            f"cannot write {str(path)!r}: the folder {str(folder)!r} does not exist; create it "
            "first or choose another path"
        )
    if path.is_dir():
        raise IsADirectoryError(f"cannot write {str(path)!r}: it is a folder; give a file name")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates the file readable by its owner only; give it the usual permissions.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable where supported
        directory = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def describe_size(path: str | Path) -> str:
    """The size of a file in words (``"12.3 kB"``).

    Examples
    --------
    >>> import tempfile, os
    >>> target = os.path.join(tempfile.mkdtemp(), "x")
    >>> _ = open(target, "wb").write(b"x" * 2500)
    >>> describe_size(target)
    '2.5 kB'
    """
    size = float(Path(path).stat().st_size)
    for unit in ("bytes", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def npz_bytes(arrays: dict[str, Any]) -> bytes:
    """NumPy's ``.npz`` layout (one ``.npy`` per array in a zip), never with pickle.

    ``np.savez(..., allow_pickle=False)`` exists only from NumPy 2.1 (older
    versions would store the flag as an array), hence this.

    Examples
    --------
    >>> with np.load(io.BytesIO(npz_bytes({"a": np.arange(3)})), allow_pickle=False) as f:
    ...     f["a"].tolist()
    [0, 1, 2]
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for name, array in arrays.items():
            with zf.open(f"{name}.npy", "w") as member:
                np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()
