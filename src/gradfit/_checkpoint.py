"""Checkpoints: a long fit's whole loop state on disk, written atomically, resumed exactly.

A checkpoint is one ``.npz`` file (never pickled: arrays plus one JSON document)
holding everything the solve loop needs to continue as if it had never stopped:
the iterate with its loss and gradient, the update rule's state (momentum,
conjugate directions, the random generator of ``sgd``), the per-output step
sizes, flags and counters, the curvature estimate, and the history so far. It
also holds a *fingerprint* of the data and of the settings that shape the path
(method, learning rate, penalty, intercept, standardisation, engine, batch size,
schedule, seed, and the data's size and column statistics); a checkpoint whose
fingerprint differs is refused with a message listing what differs.

Files are written with :func:`gradfit._files.atomic_write` (temporary file,
fsync, rename), so a process killed at any moment leaves either the previous
checkpoint or the new one, never half of one. Because every step is
deterministic (the fused kernel's chunking is fixed and the generator state is
restored), a fit killed and resumed ends with the same coefficients, bit for
bit, as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from ._exceptions import GradfitInputError
from ._files import atomic_write, npz_bytes

__all__ = ["CheckpointError", "Checkpointer", "fingerprint", "pack", "unpack"]

FORMAT = "gradfit-checkpoint"
VERSION = 1


class CheckpointError(GradfitInputError):
    """A checkpoint that cannot be used: other data or settings, corrupt, or too new."""


def _digest(array: Any) -> str:
    data = np.ascontiguousarray(np.asarray(array, dtype=np.float64))
    return hashlib.sha256(data.tobytes()).hexdigest()[:16]


def fingerprint(problem: Any, settings: dict[str, Any]) -> dict[str, Any]:
    """What must match for a checkpoint to be resumed: settings and data statistics.

    Examples
    --------
    >>> from gradfit._objective import LeastSquaresProblem
    >>> X = np.arange(12.0).reshape(6, 2); Y = np.ones((6, 1))
    >>> fp = fingerprint(LeastSquaresProblem(X, Y), {"method": "gd"})
    >>> fp["N"], fp["D"], fp["method"]
    (6, 2, 'gd')
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
    ((kind, value),) = desc.items()
    if kind == "array":
        return np.array(arrays[value])
    if kind == "tuple":
        return tuple(unpack(x, arrays) for x in value)
    if kind == "none":
        return None
    if kind == "str":
        return str(value)
    if kind == "bool":
        return bool(value)
    if kind == "int":
        return int(value)
    if kind == "float":
        return float.fromhex(value)
    if kind == "generator":
        bit_generator = getattr(np.random, value["bit_generator"])()
        bit_generator.state = value
        return np.random.Generator(bit_generator)
    raise ValueError(f"unknown entry {kind!r}")


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
        self.path = Path(path)
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

    def save(self, print_: dict[str, Any], state: dict[str, Any], n_iter: int) -> None:
        """Write ``state`` (and the fingerprint) atomically."""
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
        with atomic_write(self.path) as handle:
            handle.write(npz_bytes(arrays))
        self._last_time = time.monotonic()
        self._last_iter = n_iter
        self.n_written += 1

    def load(self, print_: dict[str, Any]) -> dict[str, Any] | None:
        """The saved state if a checkpoint exists for this fingerprint; None if there is none.

        Raises
        ------
        CheckpointError
            The file is not a readable checkpoint, is from a newer gradfit, or was
            written for other data or settings (the message lists the differences).
        """
        # a process killed while writing leaves its temporary file behind: clear those
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            stale.unlink(missing_ok=True)
        if not self.path.exists():
            return None
        try:
            with np.load(self.path, allow_pickle=False) as data:
                meta = json.loads(bytes(data["__meta__"]).decode())
                arrays = {k: np.array(data[k]) for k in data.files if k != "__meta__"}
        except Exception as err:  # zip, json or npy damage
            raise CheckpointError(
                f"{self.path}: not a readable gradfit checkpoint ({type(err).__name__}: {err}). "
                "Delete it (or pass another checkpoint path) to start afresh."
            ) from err
        if meta.get("format") != FORMAT:
            raise CheckpointError(f"{self.path}: not a gradfit checkpoint.")
        if int(meta.get("version", 0)) > VERSION:
            raise CheckpointError(
                f"{self.path}: written by a newer gradfit (checkpoint format "
                f"{meta['version']} > {VERSION}); upgrade gradfit or start afresh."
            )
        saved = meta["fingerprint"]
        differences = [
            f"{key}: checkpoint {saved.get(key)!r} vs now {value!r}"
            for key, value in print_.items()
            if saved.get(key) != value
        ]
        if differences:
            raise CheckpointError(
                f"{self.path} was written for other data or settings, so it cannot be resumed: "
                + "; ".join(differences)
                + ". Delete it, or pass another checkpoint path, to start afresh."
            )
        values = unpack(meta["state"], arrays)
        return dict(zip(meta["keys"], values, strict=True))
