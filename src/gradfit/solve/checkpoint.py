"""Checkpoints: a long fit's whole loop state on disk, written atomically, resumed exactly.

A checkpoint is one ``.npz`` file (never pickled: arrays plus one JSON document)
holding everything the solve loop needs to continue as if it had never stopped:
the iterate with its loss and gradient, the update rule's state (momentum,
conjugate directions, the random generator of ``sgd``), the per-output step
sizes, flags and counters, the curvature estimate, and the history so far. It
also holds a *fingerprint* of the data and of the settings that shape the path
(method, learning rate, penalty, intercept, standardisation, engine, batch size,
schedule, seed, and the data's size, column statistics and digest); a checkpoint whose
fingerprint differs is refused with a message listing what differs.

Files are written with :func:`gradfit._files.atomic_write` (temporary file,
fsync, rename), so a process killed at any moment leaves either the previous
checkpoint or the new one, never half of one. The fingerprint includes a digest
of every value of the data (:class:`DataDigest`) where the input can be hashed. A
fit holds a lock on its checkpoint path, and loading checks every size before
reading and every shape before use: a damaged or hostile file is a
:class:`CheckpointError` naming it. Because every step is
deterministic (the fused kernel's chunking is fixed and the generator state is
restored), a fit killed and resumed ends with the same coefficients, bit for
bit, as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import time
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .._exceptions import GradfitInputError
from .._files import (
    RefusedFileError,
    atomic_write,
    load_json,
    npz_bytes,
    printable,
    read_member,
    read_npy,
)
from ..problem.curvature import CurvatureEstimate

__all__ = [
    "CheckpointError",
    "Checkpointer",
    "DataDigest",
    "data_digest",
    "fingerprint",
    "pack",
    "unpack",
]

FORMAT = "gradfit-checkpoint"
VERSION = 1

_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
_MAX_META_BYTES = 64 * 2**20
#: gradfit stores a checkpoint's members uncompressed, so together they are smaller than the
#: file; members declaring more than the file's size plus this slack are refused as a bomb.
_SLACK_BYTES = 2**20


class CheckpointError(GradfitInputError):
    """A checkpoint that cannot be used: other data or settings, corrupt, or too new."""


def _digest(array: Any) -> str:
    data = np.ascontiguousarray(np.asarray(array, dtype=np.float64))
    return hashlib.sha256(data.tobytes()).hexdigest()[:16]


#: Rows hashed at a time by :func:`data_digest` (about 16 MiB of X).
_DIGEST_BLOCK_BYTES = 16 * 2**20


class DataDigest:
    """A 128-bit digest of the data as it is read: X's rows, Y's rows and the weights.

    Fed block by block (:meth:`update`), so a file is hashed while it is read. The three
    streams are hashed separately and combined at the end, so the digest does not depend
    on where the blocks were cut. Any changed, swapped, added or removed value changes it.
    The hash is XXH3-128 (the ``xxhash`` package, imported only when a fit checkpoints):
    it identifies data against accidents, not against forgery, and runs at memory speed
    (SHA-256 was measured 6 times slower, a third of a fast fit; benchmarks/RESULTS.md).

    Examples
    --------
    >>> X = np.arange(6.0).reshape(3, 2); Y = np.ones((3, 1))
    >>> whole = DataDigest(); whole.update(X, Y)
    >>> parts = DataDigest(); parts.update(X[:1], Y[:1]); parts.update(X[1:], Y[1:])
    >>> whole.hexdigest() == parts.hexdigest() == data_digest(X, Y)
    True
    >>> data_digest(X[::-1], Y) == data_digest(X, Y)
    False
    """

    def __init__(self) -> None:
        import xxhash

        self._streams = [xxhash.xxh3_128() for _ in range(3)]

    def update(self, X: Any, Y: Any, weights: Any = None) -> None:
        """Add a block of rows (C order; a non-contiguous block is copied first)."""
        for stream, part in zip(self._streams, (X, Y, weights), strict=True):
            if part is not None:
                stream.update(np.ascontiguousarray(part).data)

    def hexdigest(self) -> str:
        """The combined digest, ``"xxh3-128:"`` and 32 hex digits."""
        import xxhash

        combined = xxhash.xxh3_128()
        for stream in self._streams:
            combined.update(stream.digest())
        return f"xxh3-128:{combined.hexdigest()}"


def data_digest(X: Any, Y: Any, weights: Any = None) -> str:
    """The :class:`DataDigest` of in-memory arrays, hashed in row blocks of ~16 MiB.

    Examples
    --------
    >>> data_digest(np.zeros((4, 2)), np.zeros((4, 1)))[:9]
    'xxh3-128:'
    """
    digest = DataDigest()
    row_bytes = max(1, X.shape[1] * X.dtype.itemsize) if X.ndim == 2 else 8
    step = max(1, _DIGEST_BLOCK_BYTES // row_bytes)
    for start in range(0, X.shape[0], step):
        rows = slice(start, start + step)
        digest.update(X[rows], Y[rows], None if weights is None else weights[rows])
    if X.shape[0] == 0:
        digest.update(X, Y, weights)
    return digest.hexdigest()


def fingerprint(
    problem: Any, settings: dict[str, Any], digest: str | None = None
) -> dict[str, Any]:
    """What must match for a checkpoint to be resumed: settings, data statistics, digest.

    ``digest`` is the data's :class:`DataDigest` where the input can be hashed (NumPy
    arrays, sparse matrices and files are); it identifies the data exactly. Without it
    (Dask, PyTorch/CuPy inputs) only the sizes and column statistics are compared.

    Examples
    --------
    >>> from gradfit.problem.objective import LeastSquaresProblem
    >>> X = np.arange(12.0).reshape(6, 2); Y = np.ones((6, 1))
    >>> fp = fingerprint(LeastSquaresProblem(X, Y), {"method": "gd"}, data_digest(X, Y))
    >>> fp["N"], fp["D"], fp["method"], fp["data_digest"][:9]
    (6, 2, 'gd', 'xxh3-128:')
    """
    return {
        **{
            k: (v if isinstance(v, str | int | float | bool) or v is None else repr(v))
            for k, v in settings.items()
        },
        "engine": problem.engine,
        "N": int(problem.N),
        "D": int(problem.D),
        "K": int(problem.K),
        "dtype": str(np.dtype(problem.dtype)),
        "x_offset": _digest(problem.x_offset),
        "y_offset": _digest(problem.y_offset),
        "x_rms": _digest(problem.x_rms),
        "loss_at_zero": _digest(problem.loss_at_zero),
        "data_digest": digest,
    }


def pack(obj: Any, name: str, arrays: dict[str, np.ndarray]) -> Any:
    """A JSON description of ``obj`` with its arrays moved into ``arrays`` (exact floats)."""
    if isinstance(obj, np.ndarray):
        arrays[name] = obj
        return {"array": name}
    if isinstance(obj, tuple | list):
        return {"tuple": [pack(x, f"{name}.{i}", arrays) for i, x in enumerate(obj)]}
    if obj is None:
        return {"none": None}
    if isinstance(obj, str):
        return {"str": obj}
    if isinstance(obj, bool | np.bool_):
        return {"bool": bool(obj)}
    if isinstance(obj, int | np.integer):
        return {"int": int(obj)}
    if isinstance(obj, float | np.floating):
        return {"float": float(obj).hex()}
    if isinstance(obj, np.random.Generator):
        return {"generator": obj.bit_generator.state}
    raise TypeError(f"cannot checkpoint a {type(obj).__name__}")


def unpack(desc: Any, arrays: Any) -> Any:
    """Inverse of :func:`pack`.

    Examples
    --------
    >>> arrays = {}
    >>> desc = pack((np.ones(2), 3, 0.1, None, np.random.default_rng(1)), "s", arrays)
    >>> back = unpack(desc, arrays)
    >>> same_stream = back[4].random() == np.random.default_rng(1).random()
    >>> back[0], back[1], back[2] == 0.1, back[3], same_stream
    (array([1., 1.]), 3, True, None, True)
    """
    if not isinstance(desc, dict) or len(desc) != 1:
        raise ValueError(f"a state entry is {type(desc).__name__}, not a one-key object")
    ((kind, value),) = desc.items()
    if kind == "array":
        if not isinstance(value, str) or value not in arrays:
            raise ValueError(f"the state names an array {printable(repr(value), 40)} it lacks")
        return np.array(arrays[value])
    if kind == "tuple":
        if not isinstance(value, list):
            raise ValueError("a tuple entry is not a list")
        return tuple(unpack(x, arrays) for x in value)
    if kind == "none":
        return None
    if kind == "str" and isinstance(value, str):
        return value
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "float" and isinstance(value, str):
        return float.fromhex(value)
    if kind == "generator" and isinstance(value, dict):
        name = value.get("bit_generator")
        if name not in _BIT_GENERATORS:  # never call an arbitrary attribute of np.random
            raise ValueError(f"unknown bit generator {printable(repr(name), 40)}")
        bit_generator = getattr(np.random, name)()
        bit_generator.state = value
        return np.random.Generator(bit_generator)
    raise ValueError(f"unknown entry {printable(repr(kind), 40)} = {printable(repr(value), 60)}")


class Checkpointer:
    """Where and how often a fit writes its checkpoint.

    Parameters
    ----------
    path : str or Path
        The checkpoint file (``.npz``); its folder is created if missing.
    every : int or float, default=5.0
        An ``int`` is a number of iterations, a ``float`` a number of seconds
        between checkpoints (the default writes one at least every 5 seconds).

    Examples
    --------
    >>> import tempfile, os
    >>> cp = Checkpointer(os.path.join(tempfile.mkdtemp(), "fit.npz"), every=10)
    >>> cp.due(5), cp.due(10)
    (False, True)
    """

    def __init__(self, path: str | os.PathLike[str], every: int | float = 5.0) -> None:
        self._lock_fd: int | None = None
        self.path = Path(path)
        self._lock_path = self.path
        if isinstance(every, bool) or not isinstance(every, int | float) or every < 0:
            raise ValueError(
                f"checkpoint_every={every!r}: use an int (iterations) or a float (seconds) >= 0"
            )
        self.every = every
        self._last_time = time.monotonic()
        self._last_iter = 0
        self.n_written = 0

    def due(self, n_iter: int) -> bool:
        """Whether a checkpoint should be written after iteration ``n_iter``."""
        if isinstance(self.every, int):
            return n_iter - self._last_iter >= self.every
        return time.monotonic() - self._last_time >= self.every

    def _owner(self) -> str:
        host = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:40]
        return f"pid{os.getpid()}@{host}"

    def _lock(self) -> None:
        """Hold ``.<name>.lock`` beside the checkpoint until :meth:`close`; refuse if taken.

        Two fits given the same checkpoint would overwrite each other's state; the second
        is refused at once instead. Where ``fcntl`` is missing (Windows) there is no lock,
        and only the owner-stamped temporary names below keep the fits apart.
        """
        if self._lock_fd is not None:
            return
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = self.path.parent / f".{self.path.name}.lock"
        while True:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
                os.close(fd)
                raise CheckpointError(
                    f"{self.path} is in use by another fit ({printable(holder, 80) or 'a process'}"
                    "); two fits cannot share one checkpoint. Wait for it to finish, or pass "
                    "another checkpoint path."
                ) from None
            try:  # the holder before us may have removed the file we opened: retry then
                same = os.path.samestat(os.fstat(fd), os.stat(lock))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, self._owner().encode(), 0)
        self._lock_fd, self._lock_path = fd, lock

    def close(self) -> None:
        """Release the lock (and remove its file); safe to call twice."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._lock_path)
            os.close(fd)

    def __del__(self) -> None:
        self.close()

    def save(self, print_: dict[str, Any], state: dict[str, Any], n_iter: int) -> None:
        """Write ``state`` (and the fingerprint) atomically."""
        self._lock()
        arrays: dict[str, np.ndarray] = {}
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "fingerprint": print_,
            "state": pack(tuple(state.values()), "s", arrays),
            "keys": list(state),
        }
        arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(self.path, owner=self._owner()) as handle:
            handle.write(npz_bytes(arrays))
        self._last_time = time.monotonic()
        self._last_iter = n_iter
        self.n_written += 1

    def _remove_stale(self) -> None:
        """Delete temporary files left by killed writers: only those whose owner is gone."""
        host = self._owner().partition("@")[2]
        pattern = re.compile(rf"^\.{re.escape(self.path.name)}\.pid(\d+)@([^.]*)\..*\.tmp$")
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            match = pattern.match(stale.name)
            if match is None or match.group(2) != host or _alive(int(match.group(1))):
                continue  # another live process's write in flight, or not ours to judge
            stale.unlink(missing_ok=True)

    def _fail(self, what: str) -> CheckpointError:
        return CheckpointError(
            f"{self.path} is not a readable gradfit checkpoint: {what}. Delete it (or pass "
            "another checkpoint path) to start afresh."
        )

    def _read(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The JSON description and the arrays, every size checked before it is read."""
        size = self.path.stat().st_size
        try:
            zf = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, OverflowError) as err:
            raise self._fail(f"not a readable zip ({printable(str(err), 120)})") from err
        with zf:
            infos = zf.infolist()
            names = [i.filename for i in infos]
            if len(set(names)) != len(names):
                raise self._fail("a member appears twice")
            declared = sum(i.file_size for i in infos)
            if declared > size + _SLACK_BYTES:
                raise self._fail(
                    f"its members declare {declared} bytes in a file of {size}, but gradfit "
                    "stores checkpoints uncompressed (a decompression bomb?)"
                )
            if "__meta__.npy" not in names:
                raise self._fail("it has no __meta__ description")
            try:
                raw = {
                    i.filename: read_member(
                        zf,
                        i,
                        min(i.file_size, _MAX_META_BYTES)
                        if i.filename == "__meta__.npy"
                        else i.file_size,
                    )
                    for i in infos
                }
            except RefusedFileError as err:
                raise self._fail(str(err)) from err
            except (
                zipfile.BadZipFile,
                zlib.error,
                EOFError,
                OSError,
                ValueError,
                OverflowError,
                NotImplementedError,
                RuntimeError,
            ) as err:
                raise self._fail(f"a member cannot be read ({printable(str(err), 120)})") from err
        arrays: dict[str, np.ndarray] = {}
        try:
            for member, data in raw.items():
                if not member.endswith(".npy"):
                    raise RefusedFileError(f"unexpected member {printable(member, 60)!r}")
                name = member[: -len(".npy")]
                arrays[name] = read_npy(data, printable(name, 60), len(data))
            # a generator's state holds integers of up to 2**256 (78 digits)
            meta = load_json(arrays.pop("__meta__").tobytes(), max_digits=80)
        except RefusedFileError as err:
            raise self._fail(str(err)) from err
        if not isinstance(meta, dict):
            raise self._fail("its __meta__ is not a JSON object")
        return meta, arrays

    def load(self, print_: dict[str, Any]) -> dict[str, Any] | None:
        """The saved state if a checkpoint exists for this fingerprint; None if there is none.

        Raises
        ------
        CheckpointError
            Another fit holds the checkpoint, or the file is not a usable checkpoint (damaged,
            hostile, or from a newer gradfit), or it was written for other data or settings
            (the message lists the differences). Every message names the file.
        """
        self._lock()
        self._remove_stale()
        if not self.path.exists():
            return None
        meta, arrays = self._read()
        if meta.get("format") != FORMAT:
            raise self._fail(f"its format is {printable(repr(meta.get('format')), 60)}")
        version = meta.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise self._fail(f"its version is {printable(repr(version), 40)}")
        if version > VERSION:
            raise CheckpointError(
                f"{self.path}: written by a newer gradfit (checkpoint format "
                f"{version} > {VERSION}); upgrade gradfit or start afresh."
            )
        saved = meta.get("fingerprint")
        if not isinstance(saved, dict):
            raise self._fail("its fingerprint is missing")
        differences = [
            f"{key}: checkpoint {printable(repr(saved.get(key)), 100)} vs now {value!r}"
            for key, value in print_.items()
            if saved.get(key) != value
        ]
        if differences:
            raise CheckpointError(
                f"{self.path} was written for other data or settings, so it cannot be resumed: "
                + "; ".join(differences)
                + ". Delete it, or pass another checkpoint path, to start afresh."
            )
        keys = meta.get("keys")
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise self._fail("its keys are not a list of names")
        try:
            values = unpack(meta.get("state"), arrays)
            if not isinstance(values, tuple) or len(values) != len(keys):
                raise ValueError(f"{len(keys)} keys for a state of another length")
            state = dict(zip(keys, values, strict=True))
        except (ValueError, TypeError, KeyError, OverflowError) as err:
            raise self._fail(f"its state is damaged ({printable(str(err), 120)})") from err
        _check_state(self, state, print_)
        return state


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # exists but not ours, or not a pid: leave its files alone
    return True


def _check_state(owner: Checkpointer, state: dict[str, Any], print_: dict[str, Any]) -> None:
    """The state's shapes against the problem's D and K, before the loop touches it."""
    D, K = print_.get("D"), print_.get("K")
    if not isinstance(D, int) or not isinstance(K, int):
        return  # no shapes to check against (a caller without a problem fingerprint)
    shapes = {
        "V": (D, K),
        "G": (D, K),
        "loss": (K,),
        "lr": (K,),
        "active": (K,),
        "stalled": (K,),
        "halvings": (K,),
    }
    for key, shape in shapes.items():
        value = state.get(key)
        if not isinstance(value, np.ndarray) or value.shape != shape:
            found = value.shape if isinstance(value, np.ndarray) else type(value).__name__
            raise owner._fail(f"its {key} is {found}, not of shape {shape} for this fit")
    n_iter = state.get("n_iter")
    if not isinstance(n_iter, int) or n_iter < 0:
        raise owner._fail("its iteration count is missing")
    history = state.get("history")
    if not (
        isinstance(history, tuple)
        and len(history) == 6
        and all(isinstance(h, np.ndarray) and h.ndim >= 1 for h in history[:5])
        and len({len(h) for h in history[:5]}) == 1
        and history[1].shape[1:] in ((K,), (0,))
        and isinstance(history[5], tuple)
    ):
        raise owner._fail("its history is damaged")
    curvature = state.get("curvature")
    if not isinstance(curvature, tuple) or len(curvature) != len(CurvatureEstimate._fields):
        raise owner._fail("its curvature estimate is damaged")
    stack: list[Any] = [state.get("state")]
    while stack:  # the rule's arrays: momentum, directions, … are (D, K) or (K,)
        item = stack.pop()
        if isinstance(item, tuple):
            stack.extend(item)
        elif isinstance(item, np.ndarray) and item.shape not in ((D, K), (K,)):
            raise owner._fail(f"its rule state holds an array of shape {item.shape}")
