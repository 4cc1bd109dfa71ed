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
import json
import math
import os
import re
import secrets
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["atomic_write", "describe_size", "interruption"]


@contextlib.contextmanager
def atomic_write(
    path: str | Path, mode: str = "wb", *, owner: str = "", **kwargs: Any
) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` and move it onto ``path`` when the block ends.

    Parameters
    ----------
    path : str or Path
        The file to (re)place; its folder must exist.
    mode : {"wb", "w"}, default="wb"
        Binary or text.
    owner : str, optional
        Put in the temporary file's name (``.<name>.<owner>.<random>.tmp``), so that a
        cleaner can tell whose it is (checkpoints stamp ``pid<PID>@<host>``).
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
    prefix = f".{path.name}.{owner}." if owner else f".{path.name}."
    temporary = ""
    try:
        # the name is known before the file exists, so a stop signal (raised between any two
        # bytecodes) can never leave a temporary file that this block does not remove
        for _ in range(100):
            temporary = str(folder / f"{prefix}{secrets.token_hex(6)}.tmp")
            try:
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
                handle = os.open(temporary, flags, 0o600)
                break
            except FileExistsError:
                temporary = ""  # another writer's file: never ours to remove
        else:  # pragma: no cover - 100 collisions of 48 random bits
            raise FileExistsError(f"cannot create a temporary file beside {str(path)!r}")
        with os.fdopen(handle, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        # created readable by its owner only (0o600); give it the usual permissions
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            if temporary:
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


# -- reading files that may be hostile ----------------------------------------------------------
class RefusedFileError(ValueError):
    """A file part that breaks a limit or the format; the caller names the file and says why.

    Examples
    --------
    >>> isinstance(RefusedFileError("too big"), ValueError)
    True
    """


#: Largest nesting of JSON arrays and objects that :func:`load_json` accepts.
MAX_JSON_DEPTH = 32
#: Longest integer literal that :func:`load_json` accepts (2**64 has 20 digits).
MAX_JSON_DIGITS = 24
#: Bytes decompressed per read while a zip member is read back.
_CHUNK = 1 << 20


def read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """A zip member's bytes, refused before decompressing if it declares more than ``limit``.

    The member is then decompressed ``_CHUNK`` bytes at a time with a running count, so
    a member whose header understates its size cannot inflate past ``limit`` either.

    Examples
    --------
    >>> buffer = io.BytesIO()
    >>> with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
    ...     zf.writestr("zeros", bytes(10_000))
    >>> with zipfile.ZipFile(buffer) as zf:
    ...     len(read_member(zf, zf.getinfo("zeros"), 10_000))
    ...     read_member(zf, zf.getinfo("zeros"), 4_096)
    Traceback (most recent call last):
    ...
    gradfit._files.RefusedFileError: zeros declares 10000 bytes uncompressed, more than the 4096 ...
    """
    if info.file_size > limit:
        raise RefusedFileError(
            f"{info.filename} declares {info.file_size} bytes uncompressed, more than the "
            f"{limit} its contents can need (a decompression bomb, or damage)"
        )
    parts: list[bytes] = []
    total = 0
    with zf.open(info) as member:
        while chunk := member.read(_CHUNK):
            total += len(chunk)
            if total > limit:
                raise RefusedFileError(f"{info.filename} inflates past {limit} bytes")
            parts.append(chunk)
    return b"".join(parts)


def load_json(data: bytes, max_digits: int = MAX_JSON_DIGITS) -> Any:
    """Parse UTF-8 JSON as plain data within limits, or raise :class:`RefusedFileError`.

    RefusedFileError: invalid UTF-8 or JSON, ``NaN``/``Infinity`` (not JSON) and numbers that
    overflow to them (``1e400``), integers longer than ``max_digits`` digits, a key
    repeated in one object (readers disagree on which copy counts), and nesting deeper
    than ``MAX_JSON_DEPTH`` (checked by a scan before parsing, so never a recursion).

    Examples
    --------
    >>> load_json(b'{"a": [1, 2.5, "x"]}')
    {'a': [1, 2.5, 'x']}
    >>> load_json(b'{"a": 1, "a": 2}')
    Traceback (most recent call last):
    ...
    gradfit._files.RefusedFileError: the key 'a' appears twice in one object
    >>> load_json(b"[" * 100_000)
    Traceback (most recent call last):
    ...
    gradfit._files.RefusedFileError: JSON nested deeper than 32 levels
    """

    def constant(name: str) -> Any:
        raise RefusedFileError(f"{name} is not a JSON number")

    def number(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            raise RefusedFileError(f"the number {printable(text, 40)} is beyond floating point")
        return value

    def integer(text: str) -> int:
        if len(text.lstrip("-")) > max_digits:
            raise RefusedFileError(f"an integer of {len(text.lstrip('-'))} digits")
        return int(text)

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in items:
            if key in result:
                raise RefusedFileError(
                    f"the key {printable(key, 40)!r} appears twice in one object"
                )
            result[key] = value
        return result

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RefusedFileError(f"not UTF-8 text ({err.reason} at byte {err.start})") from None
    if _json_depth_exceeds(text, MAX_JSON_DEPTH):
        raise RefusedFileError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(
            text,
            parse_constant=constant,
            parse_float=number,
            parse_int=integer,
            object_pairs_hook=pairs,
        )
    except RefusedFileError:
        raise
    except RecursionError:  # pragma: no cover - the depth scan comes first
        raise RefusedFileError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except json.JSONDecodeError as err:
        raise RefusedFileError(f"not valid JSON ({err.msg} at line {err.lineno})") from None
    except ValueError as err:  # a float literal Python cannot represent, say
        raise RefusedFileError(f"not valid JSON ({printable(str(err), 80)})") from None


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def _json_depth_exceeds(text: str, limit: int) -> bool:
    """Whether brackets outside strings nest deeper than ``limit`` (before any recursion)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for match in re.finditer(r"[\[\]{}]", _STRINGS.sub("", text)):
        depth += 1 if match.group() in "[{" else -1
        if depth > limit:
            return True
    return False


_DTYPE = re.compile(r"^(\|b1|[<>|][iu][1248]|[<>][f][248])$")


def read_npy(data: bytes, name: str, limit: int) -> NDArray[Any]:
    """One ``.npy`` array from its bytes, its header checked before anything is allocated.

    Only plain boolean, integer and floating dtypes are accepted (never objects, structures
    or pickles), the shape must be a tuple of non-negative integers whose product times the
    item size is at most ``limit`` bytes, and the data must be exactly that long.

    Examples
    --------
    >>> buffer = io.BytesIO(); np.save(buffer, np.arange(3.0))
    >>> read_npy(buffer.getvalue(), "a", 1000)
    array([0., 1., 2.])
    >>> read_npy(buffer.getvalue(), "a", 16)
    Traceback (most recent call last):
    ...
    gradfit._files.RefusedFileError: array a declares shape (3,) of <f8: 24 bytes, more than ...
    """
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise RefusedFileError(f"array {name} has an unknown .npy version {version}")
    except RefusedFileError:
        raise
    except Exception as err:  # NumPy raises ValueError, but a hostile header can do more
        raise RefusedFileError(
            f"array {name} has a damaged .npy header ({printable(str(err), 80)})"
        ) from None
    if dtype.hasobject or not _DTYPE.match(dtype.str):
        raise RefusedFileError(
            f"array {name} has dtype {printable(dtype.str, 40)}, not a plain number type"
        )
    if not all(isinstance(n, int) and n >= 0 for n in shape) or len(shape) > 8:
        raise RefusedFileError(f"array {name} has an impossible shape {printable(repr(shape), 80)}")
    count = math.prod(shape)
    nbytes = count * dtype.itemsize
    if nbytes > limit:
        raise RefusedFileError(
            f"array {name} declares shape {shape} of {dtype.str}: {nbytes} bytes, more than "
            f"the {limit} its metadata allows"
        )
    offset = stream.tell()
    if len(data) - offset != nbytes:
        raise RefusedFileError(
            f"array {name} holds {len(data) - offset} data bytes for a declared {nbytes}"
        )
    array = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    shaped = array.reshape(shape, order="F") if fortran else array.reshape(shape)
    return np.array(shaped, order="C")


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str, limit: int = 200) -> str:
    r"""``text`` made safe to print on one terminal line: control characters escaped, cut.

    Escape sequences (ANSI colours, cursor moves), newlines, NULs and bidirectional
    overrides are shown as ``\x1b``-style escapes; text longer than ``limit`` characters
    keeps its start and says how much was left out.

    Examples
    --------
    >>> printable("a\x1b[31mred\x00")
    'a\\x1b[31mred\\x00'
    >>> printable("x" * 300, 10)
    'xxxxxxxxxx… (300 characters)'
    """
    escaped = _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
    if len(escaped) > limit:
        return f"{escaped[:limit]}… ({len(text)} characters)"
    return escaped


def interruption(err: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C (or SIGTERM/SIGHUP under the command line) behind ``err``, if any.

    ``err`` itself, or an interruption that a compiled extension wrapped: a signal handler
    that raises while numba's dispatcher returns gives ``SystemError: … returned a result
    with an exception set``, caused by the interruption.

    Examples
    --------
    >>> try:
    ...     try:
    ...         raise KeyboardInterrupt
    ...     except KeyboardInterrupt as inner:
    ...         raise SystemError("returned a result with an exception set") from inner
    ... except SystemError as err:
    ...     type(interruption(err)).__name__, interruption(ValueError())
    ('KeyboardInterrupt', None)
    """
    current: BaseException | None = err
    for _ in range(16):
        if current is None:
            return None
        if isinstance(current, KeyboardInterrupt):
            return current
        current = current.__cause__ or current.__context__
    return None
