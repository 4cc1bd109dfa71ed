r"""Model files that are safe to load: JSON and plain arrays in a zip, never pickle.

A gradfit model file (``.gfm`` by convention) is a zip archive with three members:

``metadata.json``
    The format name ``"gradfit-model"`` and its integer ``format_version``, the gradfit
    version that wrote it, the creation time, the feature and target names, the dtype,
    the estimator's parameters, its fitted scalar attributes, the training history's
    events, and for every array its shape, dtype and SHA-256.
``arrays.npz``
    The arrays (``coef_``, ``intercept_``, the history, …) in NumPy's ``.npz`` format,
    written and read with ``allow_pickle=False``: numbers only, no Python objects.
``SHA256SUMS``
    The SHA-256 of the two other members, in the format of ``sha256sum``.

Loading never executes anything from the file: JSON is parsed as data, arrays are read
with ``allow_pickle=False`` (an object array is refused), and the estimator is rebuilt by
setting attributes from those values. Before anything is used, :func:`read_model` checks
the zip structure and CRCs (a truncated or corrupt file), the format name (not a model),
the format version (a file from a newer gradfit), the checksums (a member or an array
that changed since it was written) and that the shapes agree. A file cannot exhaust memory
either: every size is checked against limits derived from the metadata's D and K and from
the file's size before anything is decompressed, members are decompressed in bounded chunks,
and the JSON is parsed with depth, number and size limits ("Limits" in the specification).
Each failure raises
:class:`~gradfit.GradfitModelError` with a message that says which. Checksums detect
corruption and edits; they are not signatures, so load files from sources you trust to
have meant them (they still cannot run code). The full specification is
``docs/model-format.md``.

Writing is atomic (a temporary file in the same folder, flushed to disk, then renamed):
a crash leaves the previous file, never half of a new one.
"""

from __future__ import annotations

import datetime as _datetime
import hashlib
import io
import json
import math
import numbers
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._exceptions import GradfitModelError
from ._files import (
    RefusedFileError,
    atomic_write,
    load_json,
    npz_bytes,
    printable,
    read_member,
    read_npy,
)
from .solve.history import Event, History

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "SavedModel",
    "load_model",
    "read_model",
    "save_model",
]

#: The format's name, stored in ``metadata.json``.
FORMAT_NAME = "gradfit-model"
#: The newest format version this gradfit writes and reads.
FORMAT_VERSION = 1

_MEMBERS = ("metadata.json", "arrays.npz", "SHA256SUMS")
_MAX_METADATA_BYTES = 64 * 2**20
_MAX_SUMS_BYTES = 4096
#: Room for one array's ``.npy`` header (NumPy writes 128 bytes) and its zip entry.
_NPY_HEADER_LIMIT = 4096
#: Deflate never compresses better than about 1032:1, and a model's arrays are compressed
#: once: arrays declared beyond this many times the file's size can only be a bomb.
_MAX_RATIO = 1100
_PLAIN_DTYPE = re.compile(r"^(\|b1|[<>|][iu][1248]|[<>]f[248])$")
_ZIP_MAGIC = b"PK\x03\x04"
_HISTORY_FIELDS = ("loss", "loss_per_output", "grad_norm", "relative_grad_norm", "learning_rate")
_STRING_ATTRIBUTES = ("stop_reason_", "engine_", "engine_reason_")


def _version() -> str:
    from . import __version__

    return __version__


@dataclass(frozen=True)
class SavedModel:
    """A model read from a file, with what the file says about it.

    Attributes
    ----------
    model : GDRegressor
        The fitted estimator, ready to ``predict``.
    feature_names : tuple of str
        The feature columns, in the order ``predict`` expects them (after encoding:
        ``region=north``; the file's columns are then ``encoding.names_in``).
    target_names : tuple of str
        The target columns, in the order of the outputs.
    gradfit_version : str
        The gradfit that wrote the file.
    format_version : int
    created : str
        When the file was written (ISO 8601, UTC).
    metadata : dict
        Everything in ``metadata.json``.
    """

    model: Any
    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]
    gradfit_version: str
    format_version: int
    created: str
    metadata: dict[str, Any] = field(repr=False)

    def to_text(self) -> str:
        """A readable summary: the file's model, its columns and its coefficients."""
        coef = np.atleast_2d(np.asarray(self.model.coef_, dtype=np.float64))
        intercept = np.atleast_1d(np.asarray(self.model.intercept_, dtype=np.float64))
        lines = [
            f"gradfit model ({self.model.method}, written by gradfit {self.gradfit_version} "
            f"on {self.created}): {len(self.feature_names)} features → "
            f"{', '.join(self.target_names)}"
        ]
        width = max([len("(intercept)"), *(len(n) for n in self.feature_names)])
        for k, target in enumerate(self.target_names):
            lines.append(f"  {target}:")
            lines.append(f"    {'(intercept)':<{width}}  {intercept[k]:+.8g}")
            lines += [
                f"    {name:<{width}}  {coef[k, j]:+.8g}"
                for j, name in enumerate(self.feature_names)
            ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def to_html(self) -> str:
        """:meth:`to_text` as HTML (escaped), for Jupyter."""
        from html import escape

        return f"<div class='gradfit-model'><pre>{escape(self.to_text())}</pre></div>"

    def _repr_html_(self) -> str:
        return self.to_html()

    @property
    def encoding(self) -> Any:
        """The encoding of text columns (``model.encoding_``), or None."""
        return getattr(self.model, "encoding_", None)


# -- writing ----------------------------------------------------------------------------------
def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _array_digest(array: NDArray[Any]) -> str:
    return _sha256(np.ascontiguousarray(array).tobytes())


def _json_float(value: float) -> float | str:
    """JSON has no inf or NaN: write those as the strings ``"inf"``, ``"-inf"``, ``"nan"``."""
    value = float(value)
    if math.isfinite(value):
        return value
    return "nan" if value != value else ("inf" if value > 0 else "-inf")


def _from_json_float(value: Any, name: str, path: Path) -> float:
    if isinstance(value, str) and value in ("inf", "-inf", "nan"):
        return float(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    raise _inconsistent(path, f"attribute {name} is {value!r}, not a number")


def _json_param(name: str, value: Any) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return _json_float(float(value))
    if name == "random_state":
        # A Generator or RandomState has no faithful JSON form; every fitted attribute is
        # saved, so prediction is unaffected. Refitting the loaded model starts from None.
        return None
    raise GradfitModelError(
        f"cannot save parameter {name}={value!r}: only numbers, strings, booleans and None "
        "can be stored in a gradfit model file",
        reason="inconsistent",
    )


def _default_names(prefix: str, count: int, single: str | None = None) -> list[str]:
    if count == 1 and single is not None:
        return [single]
    return [f"{prefix}{i}" for i in range(count)]


def save_model(
    model: Any,
    path: str | Path,
    *,
    feature_names: Any = None,
    target_names: Any = None,
    inference: Any = None,
    encoding: Any = None,
) -> Path:
    """Save a fitted :class:`~gradfit.GDRegressor` to a model file (no pickle).

    Parameters
    ----------
    model : GDRegressor
        A fitted estimator.
    path : str or Path
        Where to write (``.gfm`` by convention); replaced atomically if it exists.
    feature_names : sequence of str, optional
        Names of the features (default: ``model.feature_names_in_`` when the model was
        fitted on a DataFrame, else ``x0, x1, …``).
    target_names : sequence of str, optional
        Names of the outputs (default ``y`` for one output, else ``y0, y1, …``).
    inference : Inference, optional
        A :func:`gradfit.inference` result of this model: its covariance, σ² and
        degrees of freedom are stored so that ``gradfit predict --interval`` can
        give intervals (entries an older gradfit ignores).
    encoding : gradfit._encode.Encoding, optional
        The encoding of text columns (default: ``model.encoding_``): the levels are
        stored as JSON in the metadata, and prediction applies them. The feature
        names are then the encoded ones (``region=north``).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    GradfitModelError
        The model is not fitted, or the names do not match its shapes.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from gradfit import GDRegressor, save_model, load_model
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 3)); y = X @ [1.0, -2.0, 0.5] + 4.0
    >>> model = GDRegressor().fit(X, y)
    >>> path = save_model(model, os.path.join(tempfile.mkdtemp(), "model.gfm"),
    ...                   feature_names=["a", "b", "c"], target_names=["y"])
    >>> restored = load_model(path)
    >>> np.array_equal(restored.predict(X), model.predict(X))
    True
    >>> restored.stop_reason_ == model.stop_reason_
    True
    """
    from .estimator import GDRegressor

    if not isinstance(model, GDRegressor):
        raise GradfitModelError(
            f"save_model saves a GDRegressor, got {type(model).__name__}", reason="not_fitted"
        )
    if not hasattr(model, "coef_"):
        raise GradfitModelError(
            "this GDRegressor is not fitted yet: call fit(X, y) before save_model",
            reason="not_fitted",
        )
    coef = np.asarray(model.coef_)
    was_1d = coef.ndim == 1
    W = coef[None, :] if was_1d else coef
    K, D = W.shape
    if encoding is None:
        encoding = getattr(model, "encoding_", None)
    if feature_names is None:
        names_in = getattr(model, "feature_names_in_", None)
        if encoding is not None:
            feature_names = list(encoding.names_out)
        else:
            feature_names = list(names_in) if names_in is not None else _default_names("x", D)
    if target_names is None:
        target_names = _default_names("y", K, "y")
    features = [str(n) for n in feature_names]
    targets = [str(n) for n in target_names]
    if len(features) != D or len(targets) != K:
        raise GradfitModelError(
            f"got {len(features)} feature name(s) and {len(targets)} target name(s) for a model "
            f"with {D} feature(s) and {K} output(s); pass one name per column",
            reason="inconsistent",
        )
    if encoding is not None and list(encoding.names_out) != features:
        raise GradfitModelError(
            "the encoding's columns do not match the feature names; save the model with the "
            "encoding it was fitted with",
            reason="inconsistent",
        )
    for kind, names in (("feature", features), ("target", targets)):
        twice = _repeated(names)
        if twice:  # predict selects columns by name: a repeated one would be used twice
            raise GradfitModelError(
                f"the {kind} name(s) {twice} occur more than once; give every column its own name",
                reason="inconsistent",
            )
    if not (np.isfinite(coef).all() and np.isfinite(np.asarray(model.intercept_)).all()):
        raise GradfitModelError(
            "the model's coefficients or intercept hold NaN or infinite values; a model file "
            "stores only finite ones. Refit (the data or the settings made the fit fail).",
            reason="inconsistent",
        )

    intercept = np.asarray(model.intercept_, dtype=coef.dtype)
    arrays: dict[str, NDArray[Any]] = {
        "coef_": coef,
        "intercept_": intercept,
        "relative_grad_norm_": np.asarray(model.relative_grad_norm_, dtype=np.float64),
        "learning_rate_": np.asarray(model.learning_rate_, dtype=np.float64),
    }
    x_rms = getattr(model, "_x_rms", None)
    if x_rms is not None:
        arrays["x_rms"] = np.asarray(x_rms, dtype=np.float64)
    history = model.history_
    for name in _HISTORY_FIELDS:
        arrays[f"history.{name}"] = np.asarray(getattr(history, name), dtype=np.float64)
    for name, array in arrays.items():
        if array.dtype.kind not in "fiub":
            raise GradfitModelError(
                f"array {name} has dtype {array.dtype}, which a model file cannot hold",
                reason="inconsistent",
            )

    attributes: dict[str, Any] = {
        "n_iter_": int(model.n_iter_),
        "converged_": bool(model.converged_),
        "lipschitz_": _json_float(model.lipschitz_),
        "condition_number_": _json_float(model.condition_number_),
        "n_features_in_": int(model.n_features_in_),
        "intercept_is_scalar": bool(np.ndim(model.intercept_) == 0),
        "learning_rate_is_scalar": bool(np.ndim(model.learning_rate_) == 0),
    }
    for name in _STRING_ATTRIBUTES:
        if hasattr(model, name):
            attributes[name] = str(getattr(model, name))
    if hasattr(model, "t_"):
        attributes["t_"] = int(model.t_)
    if hasattr(model, "feature_names_in_"):
        attributes["feature_names_in_"] = [str(n) for n in model.feature_names_in_]
    if inference is not None:
        from .understand.inference import saved_form

        inference_arrays, attributes["inference"] = saved_form(inference)
        arrays.update(inference_arrays)

    arrays_bytes = npz_bytes(arrays)
    metadata = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "gradfit_version": _version(),
        "created": _datetime.datetime.now(_datetime.UTC).isoformat(timespec="seconds"),
        "estimator": "GDRegressor",
        "feature_names": features,
        "target_names": targets,
        "n_features": D,
        "n_outputs": K,
        "y_was_1d": was_1d,
        "dtype": str(coef.dtype),
        **({"encoding": encoding.to_dict()} if encoding is not None else {}),
        "params": {k: _json_param(k, v) for k, v in sorted(model.get_params().items())},
        "attributes": attributes,
        "events": [
            {"iteration": int(e.iteration), "kind": str(e.kind), "message": str(e.message)}
            for e in history.events
        ],
        "arrays": {
            name: {
                "shape": list(array.shape),
                "dtype": array.dtype.str,
                "sha256": _array_digest(array),
            }
            for name, array in arrays.items()
        },
    }
    return write_container(path, metadata, arrays_bytes)


def write_container(path: str | Path, metadata: dict[str, Any], arrays_bytes: bytes) -> Path:
    """Write the safe container atomically: metadata.json, arrays.npz and their SHA256SUMS.

    Model files and statistics files (:meth:`gradfit.Statistics.save`) share it.
    """
    metadata_bytes = (
        json.dumps(metadata, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    ).encode("utf-8")
    sums = f"{_sha256(metadata_bytes)}  metadata.json\n{_sha256(arrays_bytes)}  arrays.npz\n"
    path = Path(path)
    with atomic_write(path, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metadata.json", metadata_bytes)
        zf.writestr("arrays.npz", arrays_bytes)
        zf.writestr("SHA256SUMS", sums.encode("ascii"))
    return path


# -- reading ----------------------------------------------------------------------------------
def _error(path: Path, reason: str, text: str) -> GradfitModelError:
    return GradfitModelError(f"{path.name} {text}", reason=reason)


def _inconsistent(path: Path, what: str) -> GradfitModelError:
    return _error(
        path,
        "inconsistent",
        f"is inconsistent: {what}. The file was damaged or edited; save the model again.",
    )


def _not_a_model(path: Path, head: bytes) -> GradfitModelError:
    looks = ""
    if head[:1] == b"\x80" or head[:2] in (b"(d", b"(l", b"}q", b"]q"):
        looks = " (it looks like a Python pickle, which gradfit never loads)"
    elif head[:6] == b"\x93NUMPY":
        looks = " (it is a NumPy .npy array, not a model)"
    elif head[:1] in (b"{", b"["):
        looks = " (it is text, perhaps JSON; a model file is a zip archive)"
    return _error(
        path,
        "not_a_model",
        f"is not a gradfit model file{looks}. Model files are written by "
        "`gradfit fit DATA --target COL -o model.gfm` or gradfit.save_model.",
    )


def _open_zip(path: Path) -> zipfile.ZipFile:
    """The model file as a zip, after the existence, signature and directory checks."""
    if not path.exists():
        raise FileNotFoundError(
            f"model file {str(path)!r} does not exist (looked for {path.resolve()}); check the "
            "path, or write one with `gradfit fit DATA --target COL -o model.gfm`"
        )
    if path.is_dir():
        raise IsADirectoryError(f"model file {str(path)!r} is a folder, not a file")
    with path.open("rb") as f:
        head = f.read(8)
    if not head.startswith(_ZIP_MAGIC):
        if not head:
            raise _error(
                path,
                "truncated",
                "is empty (0 bytes): the write or copy never "
                "finished. Save or copy the model again.",
            )
        raise _not_a_model(path, head)
    try:
        return zipfile.ZipFile(path)
    # a damaged directory can fail in many ways inside zipfile (a name that is not UTF-8, an
    # impossible offset or size): all of them mean the same to the user
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, OverflowError) as err:
        raise _error(
            path,
            "truncated",
            "is truncated: it starts like a gradfit model but its end (the zip directory) is "
            f"missing or damaged ({printable(str(err), 120)}), as after an interrupted copy or "
            "download. Copy or save the model again.",
        ) from err


def _check_members(path: Path, zf: zipfile.ZipFile) -> None:
    listed = zf.namelist()
    names = set(listed)
    missing = [m for m in _MEMBERS if m not in names]
    if len(missing) == len(_MEMBERS):
        raise _not_a_model(path, b"")
    if missing:
        raise _inconsistent(path, f"the member(s) {', '.join(missing)} are missing")
    extra = sorted(names - set(_MEMBERS))
    if extra:
        raise _inconsistent(path, f"unexpected member(s) {printable(', '.join(extra), 200)}")
    twice = sorted({n for n in listed if listed.count(n) > 1})
    if twice:  # zipfile would read the last copy, `unzip` the first: refuse both
        raise _inconsistent(path, f"the member(s) {', '.join(twice)} appear more than once")


def _member(path: Path, zf: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """One member's bytes, bounded by ``limit`` before and during decompression."""
    try:
        return read_member(zf, zf.getinfo(name), limit)
    except RefusedFileError as err:
        raise _error(path, "corrupt", f"is corrupt or hostile: {err}; refused.") from err
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        OSError,
        ValueError,  # includes UnicodeDecodeError: a damaged local header's name
        OverflowError,
        NotImplementedError,  # a damaged flag: "encrypted", an unknown compression
        RuntimeError,  # zipfile's "password required" for a flipped encryption bit
    ) as err:
        raise _error(
            path,
            "corrupt",
            f"is corrupt: member {name} cannot be read back intact "
            f"({printable(str(err), 120)}); its bytes changed on disk or in transfer. Copy "
            "or save the model again.",
        ) from err


def _check_sums(path: Path, sums: bytes) -> dict[str, str]:
    expected: dict[str, str] = {}
    try:
        for line in sums.decode("ascii").splitlines():
            digest, name = line.split(maxsplit=1)
            expected[name.lstrip("*")] = digest
    except (UnicodeDecodeError, ValueError) as err:
        raise _error(
            path, "tampered", "has been modified: SHA256SUMS is not a list of checksums."
        ) from err
    for name in ("metadata.json", "arrays.npz"):
        if name not in expected:
            raise _error(path, "tampered", f"has been modified: SHA256SUMS lacks {name}.")
    return expected


def _tampered(path: Path, member: str, expected: str, found: str, detail: str = "") -> Exception:
    return _error(
        path,
        "tampered",
        f"has been modified since it was written: {member} does not match its SHA-256 "
        f"checksum{detail} (expected {printable(expected[:12])}…, found {found[:12]}…). Use "
        "the original file, or fit and save the model again.",
    )


def _count(value: Any) -> int | None:
    """``value`` if it is a plain non-negative integer (not a bool) below 2**62, else None."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**62:
        return value
    return None


def _declared(path: Path, metadata: dict[str, Any]) -> dict[str, tuple[tuple[int, ...], str]]:
    """The arrays the metadata declares, as (shape, dtype), checked against D, K and limits.

    This runs before ``arrays.npz`` is decompressed: what the metadata declares bounds
    every allocation that follows, and the declaration itself must fit the model's D and K
    (themselves bounded by the names in the size-limited metadata) and the file's size.
    """
    declared = metadata.get("arrays")
    if not isinstance(declared, dict):
        raise _inconsistent(path, "metadata.json does not list the arrays")
    D, K = _count(metadata.get("n_features")), _count(metadata.get("n_outputs"))
    if not D or not K:
        raise _inconsistent(
            path,
            f"n_features is {printable(repr(metadata.get('n_features')), 40)} and n_outputs "
            f"{printable(repr(metadata.get('n_outputs')), 40)}; both must be positive integers",
        )
    _names(path, metadata, "feature_names", D)
    _names(path, metadata, "target_names", K)
    arrays: dict[str, tuple[tuple[int, ...], str]] = {}
    for name, spec in declared.items():
        shown = printable(name, 60)
        if not isinstance(spec, dict):
            raise _inconsistent(path, f"the metadata of array {shown} is not an object")
        shape, dtype = spec.get("shape"), spec.get("dtype")
        if not isinstance(shape, list) or len(shape) > 3 or any(_count(n) is None for n in shape):
            raise _inconsistent(
                path, f"array {shown} has the impossible shape {printable(repr(shape), 60)}"
            )
        if isinstance(dtype, str) and "O" in dtype:
            raise _unsafe(path)
        if not isinstance(dtype, str) or not _PLAIN_DTYPE.match(dtype):
            raise _inconsistent(
                path,
                f"array {shown} has dtype {printable(repr(dtype), 40)}, not a plain number type",
            )
        if not isinstance(spec.get("sha256"), str):
            raise _inconsistent(path, f"array {shown} has no sha256")
        arrays[name] = (tuple(shape), dtype)
    T = arrays.get("history.loss", ((0,), ""))[0]
    if len(T) != 1:
        raise _inconsistent(path, f"history.loss is declared with shape {list(T)}, not (T,)")
    allowed: dict[str, list[tuple[int, ...]]] = {
        "coef_": [(K, D)] + ([(D,)] if K == 1 else []),
        "intercept_": [(K,), ()],
        "learning_rate_": [(K,), ()],
        "relative_grad_norm_": [(K,)],
        "x_rms": [(D,)],
        "history.loss_per_output": [(*T, K)],
    }
    for field_name in _HISTORY_FIELDS:
        allowed.setdefault(f"history.{field_name}", [T])
    # the inference arrays (issue 16): q ≤ D + 1 kept coefficients (intercept included)
    allowed["inference.x_mean"] = [(D,)]
    allowed["inference.sigma2"] = [(K,)]
    variable = {
        "inference.cov_centred": lambda s: len(s) == 3 and s[0] == K and s[1] == s[2] <= D + 1,
        "inference.keep": lambda s: len(s) == 1 and s[0] <= D,
    }
    for name, (shape, _) in arrays.items():
        if name in variable:
            if not variable[name](shape):
                raise _inconsistent(
                    path,
                    f"array {name} is declared with shape {list(shape)}, which a model with "
                    f"{D} feature(s) and {K} output(s) cannot have",
                )
            continue
        if name not in allowed:
            raise _inconsistent(
                path, f"arrays.npz lists {printable(name, 60)!r}, which is not part of the format"
            )
        if shape not in allowed[name]:
            raise _inconsistent(
                path,
                f"array {name} is declared with shape {list(shape)}, which a model with "
                f"{D} feature(s), {K} output(s) and {T[0] if T else 0} history rows cannot have",
            )
    total = sum(math.prod(s) * int(d[2:]) for s, d in arrays.values())
    size = path.stat().st_size
    if total > _MAX_RATIO * size + 2**20:
        raise _error(
            path,
            "corrupt",
            f"is corrupt or hostile: its metadata declares {total} bytes of arrays in a file of "
            f"{size} bytes, more than compression can account for (a decompression bomb); "
            "refused before decompressing.",
        )
    return arrays


def _load_arrays(
    path: Path, data: bytes, declared: dict[str, tuple[tuple[int, ...], str]]
) -> dict[str, NDArray[Any]]:
    """Every declared array from ``arrays.npz``, each header checked before it is read."""
    try:
        inner = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, OverflowError) as err:
        raise _error(
            path, "corrupt", f"is corrupt: arrays.npz cannot be read ({printable(str(err), 120)})."
        ) from err
    with inner:
        listed = inner.namelist()
        wanted = {f"{name}.npy": name for name in declared}
        if sorted(listed) != sorted(wanted):
            raise _inconsistent(
                path,
                f"arrays.npz holds {printable(str(sorted(listed)), 200)} but the metadata "
                f"lists {sorted(wanted)}",
            )
        arrays: dict[str, NDArray[Any]] = {}
        for member, name in wanted.items():
            shape, dtype = declared[name]
            nbytes = math.prod(shape) * int(dtype[2:])
            raw = _member(path, inner, member, nbytes + _NPY_HEADER_LIMIT)
            try:
                array = read_npy(raw, name, nbytes)
            except RefusedFileError as err:
                if "dtype |O" in str(err):
                    raise _unsafe(path) from err
                raise _error(path, "corrupt", f"is corrupt or hostile: {err}; refused.") from err
            if array.shape != shape or array.dtype.str != dtype:
                raise _inconsistent(
                    path,
                    f"array {name} is {array.dtype.str}{list(array.shape)} but the metadata "
                    f"says {dtype}{list(shape)}",
                )
            arrays[name] = array
    return arrays


def _unsafe(path: Path) -> GradfitModelError:
    return _error(
        path,
        "unsafe",
        "holds pickled Python objects in arrays.npz; gradfit never unpickles, so it "
        "refuses the file (nothing in it was executed).",
    )


def _parse_metadata(path: Path, data: bytes) -> tuple[Any, str | None]:
    try:
        return load_json(data), None
    except RefusedFileError as err:
        return None, str(err)


def _read_checked(path: Path) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
    """The metadata and arrays of a model file, after every check of the format."""
    zf = _open_zip(path)
    with zf:
        _check_members(path, zf)
        sums = _member(path, zf, "SHA256SUMS", _MAX_SUMS_BYTES)
        meta_bytes = _member(path, zf, "metadata.json", _MAX_METADATA_BYTES)
        metadata, problem = _parse_metadata(path, meta_bytes)
        # A newer format may lay out its checksums differently: say "too new" before
        # checking them.
        if isinstance(metadata, dict) and metadata.get("format") == FORMAT_NAME:
            version = _count(metadata.get("format_version"))
            if version is not None and version > FORMAT_VERSION:
                raise _error(
                    path,
                    "too_new",
                    f"uses model format version {version}, written by gradfit "
                    f"{printable(str(metadata.get('gradfit_version', '?')), 40)}; this gradfit "
                    f"({_version()}) reads versions up to {FORMAT_VERSION}. Upgrade gradfit "
                    "(pip install --upgrade gradfit) to load it.",
                )
        expected = _check_sums(path, sums)
        found = _sha256(meta_bytes)
        if found != expected["metadata.json"]:
            raise _tampered(path, "metadata.json", expected["metadata.json"], found)
        if problem is not None:
            raise _inconsistent(path, f"metadata.json is refused: {problem}")
        if not isinstance(metadata, dict):
            raise _inconsistent(path, "metadata.json is not a JSON object")
        if metadata.get("format") != FORMAT_NAME:
            raise _error(
                path,
                "not_a_model",
                f"is not a gradfit model file: its metadata names the format "
                f"{printable(repr(metadata.get('format')), 60)}, not {FORMAT_NAME!r}.",
            )
        version = _count(metadata.get("format_version"))
        if not version:
            raise _inconsistent(
                path, f"format_version is {printable(repr(metadata.get('format_version')), 40)}"
            )
        declared = _declared(path, metadata)
        limit = sum(
            math.prod(shape) * int(dtype[2:]) + _NPY_HEADER_LIMIT
            for shape, dtype in declared.values()
        )
        data = _member(path, zf, "arrays.npz", limit + _NPY_HEADER_LIMIT)
    found = _sha256(data)
    specs = metadata["arrays"]
    if found != expected["arrays.npz"]:
        detail = ""
        try:  # name the arrays that changed, if they can still be read (within the limits)
            arrays = _load_arrays(path, data, declared)
            changed = [n for n, a in arrays.items() if _array_digest(a) != specs[n]["sha256"]]
            if changed:
                detail = f" (changed: {', '.join(changed)})"
        except GradfitModelError:
            pass
        raise _tampered(path, "arrays.npz", expected["arrays.npz"], found, detail)
    arrays = _load_arrays(path, data, declared)
    for name, array in arrays.items():
        if _array_digest(array) != specs[name]["sha256"]:
            raise _tampered(path, f"array {name}", specs[name]["sha256"], _array_digest(array))
    return metadata, arrays


def read_model(path: str | Path) -> SavedModel:
    """Read a model file, checking it first; see the module docstring for the checks.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    SavedModel
        The estimator and the names, versions and metadata stored with it.

    Raises
    ------
    FileNotFoundError
        There is no such file.
    GradfitModelError
        The file is not a model, truncated, corrupt, modified since it was written, from
        a newer gradfit, holds pickled objects, breaks a size limit, or its parts disagree;
        ``reason`` says which and the message says what to do.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from gradfit import GDRegressor, save_model
    >>> X = np.arange(12.0).reshape(6, 2); Y = np.c_[X @ [1.0, 2.0], X @ [0.5, -1.0]]
    >>> path = save_model(GDRegressor().fit(X, Y), os.path.join(tempfile.mkdtemp(), "m.gfm"),
    ...                   feature_names=["a", "b"], target_names=["u", "v"])
    >>> saved = read_model(path)
    >>> saved.feature_names, saved.target_names, saved.format_version
    (('a', 'b'), ('u', 'v'), 1)
    >>> with open(path, "r+b") as f:
    ...     _ = f.truncate(100)
    >>> read_model(path)
    Traceback (most recent call last):
    ...
    gradfit._exceptions.GradfitModelError: m.gfm is truncated: ...
    """
    path = Path(path)
    metadata, arrays = _read_checked(path)
    model = _rebuild(path, metadata, arrays)
    return SavedModel(
        model=model,
        feature_names=tuple(metadata["feature_names"]),
        target_names=tuple(metadata["target_names"]),
        gradfit_version=str(metadata.get("gradfit_version", "")),
        format_version=int(metadata["format_version"]),
        created=str(metadata.get("created", "")),
        metadata=metadata,
    )


def _names(path: Path, metadata: dict[str, Any], key: str, count: int) -> list[str]:
    names = metadata.get(key)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise _inconsistent(path, f"{key} is not a list of strings")
    if len(names) != count:
        kind = "features" if key == "feature_names" else "outputs"
        raise _inconsistent(path, f"the metadata says {count} {kind} but {key} lists {len(names)}")
    twice = _repeated(names)
    if twice:
        raise _inconsistent(path, f"{key} name(s) {twice} more than once")
    return names


def _repeated(names: list[str]) -> str:
    """The names that occur more than once, quoted and printable ('' if none)."""
    seen: set[str] = set()
    twice = sorted({n for n in names if n in seen or seen.add(n)})  # type: ignore[func-returns-value]
    return ", ".join(repr(printable(n, 40)) for n in twice[:5])


def _rebuild(path: Path, metadata: dict[str, Any], arrays: dict[str, NDArray[Any]]) -> Any:
    from .estimator import GDRegressor

    if metadata.get("estimator") != "GDRegressor":
        raise _inconsistent(path, f"unknown estimator {metadata.get('estimator')!r}")
    for name in ("coef_", "intercept_", "relative_grad_norm_", "learning_rate_"):
        if name not in arrays:
            raise _inconsistent(path, f"array {name} is missing")
    coef = arrays["coef_"]
    was_1d = bool(metadata.get("y_was_1d"))
    if coef.ndim != (1 if was_1d else 2):
        raise _inconsistent(path, f"coef_ has shape {coef.shape} but y_was_1d is {was_1d}")
    K, D = (1, coef.shape[0]) if was_1d else coef.shape
    if metadata.get("n_features") != D or metadata.get("n_outputs") != K:
        raise _inconsistent(
            path,
            f"coef_ has shape {coef.shape} but the metadata says {metadata.get('n_features')} "
            f"features and {metadata.get('n_outputs')} outputs",
        )
    if str(coef.dtype) != metadata.get("dtype"):
        raise _inconsistent(
            path, f"coef_ is {coef.dtype} but the metadata says {metadata.get('dtype')}"
        )
    _names(path, metadata, "feature_names", D)
    _names(path, metadata, "target_names", K)
    encoding = None
    if "encoding" in metadata:
        from ._encode import Encoding

        try:
            encoding = Encoding.from_dict(metadata["encoding"])
        except ValueError as err:
            raise _inconsistent(path, f"the encoding is malformed ({err})") from None
        if encoding.names_out != metadata["feature_names"]:
            raise _inconsistent(path, "the encoding's columns do not match feature_names")
    attributes = metadata.get("attributes")
    params = metadata.get("params")
    if not isinstance(attributes, dict) or not isinstance(params, dict):
        raise _inconsistent(path, "params or attributes are missing")
    known = GDRegressor().get_params()
    unknown = sorted(set(params) - set(known))
    if unknown:
        written_by = str(metadata.get("gradfit_version", "?"))
        if written_by != _version():
            raise _error(
                path,
                "too_new",
                f"was written by gradfit {written_by} with parameter(s) {', '.join(unknown)} "
                f"that this gradfit ({_version()}) does not have. Upgrade gradfit "
                "(pip install --upgrade gradfit) to load it.",
            )
        raise _inconsistent(path, f"unknown parameter(s) {', '.join(unknown)}")
    values = {}
    for name, value in params.items():
        if isinstance(value, str) and value in ("inf", "-inf", "nan") and name != "method":
            value = float(value)
        values[name] = value
    model = GDRegressor(**values)
    model._stream = None  # as after fit: partial_fit starts a new stream
    intercept = arrays["intercept_"]
    if intercept.shape != (() if attributes.get("intercept_is_scalar") else (K,)):
        raise _inconsistent(path, f"intercept_ has shape {intercept.shape} for {K} output(s)")
    model.coef_ = coef
    model.intercept_ = intercept[()] if intercept.ndim == 0 else intercept  # NumPy scalar
    lr = arrays["learning_rate_"]
    model.learning_rate_ = float(lr) if attributes.get("learning_rate_is_scalar") else lr
    model.relative_grad_norm_ = arrays["relative_grad_norm_"]
    if "x_rms" in arrays:
        model._x_rms = arrays["x_rms"]
    # prediction uses these: a NaN or an infinity would print as a confident wrong number
    for name in ("coef_", "intercept_", "x_rms"):
        if name in arrays and not np.isfinite(arrays[name]).all():
            raise _inconsistent(path, f"array {name} holds NaN or infinite values")
    for name in ("n_iter_", "n_features_in_"):
        if _count(attributes.get(name)) is None:
            raise _inconsistent(
                path,
                f"attribute {name} is {printable(repr(attributes.get(name)), 40)}, not a "
                "non-negative integer",
            )
    model.n_iter_ = int(attributes["n_iter_"])
    model.n_features_in_ = int(attributes["n_features_in_"])
    model.converged_ = bool(attributes.get("converged_"))
    n_in = D if encoding is None else len(encoding.names_in)
    if model.n_features_in_ not in (D, n_in):
        raise _inconsistent(path, f"n_features_in_ is {model.n_features_in_} for {D} features")
    if encoding is not None:
        model.encoding_ = encoding
        model.coef_names_ = list(encoding.names_out)
    for name in ("lipschitz_", "condition_number_"):
        setattr(model, name, _from_json_float(attributes.get(name), name, path))
    for name in _STRING_ATTRIBUTES:
        if name in attributes:
            setattr(model, name, str(attributes[name]))
    if "t_" in attributes:
        if _count(attributes["t_"]) is None:
            raise _inconsistent(path, "attribute t_ is not a non-negative integer")
        model.t_ = int(attributes["t_"])
    if "feature_names_in_" in attributes:
        names_in = attributes["feature_names_in_"]
        if (
            not isinstance(names_in, list)
            or len(names_in) != n_in
            or not all(isinstance(n, str) for n in names_in)
            or _repeated(names_in)
        ):
            raise _inconsistent(path, "feature_names_in_ does not match the features")
        model.feature_names_in_ = np.asarray(names_in, dtype=object)
    if "inference" in attributes:  # what gradfit predict --interval needs
        from .understand.inference import check_saved

        problem = check_saved(arrays, attributes["inference"], D, K)
        if problem is not None:
            raise _inconsistent(path, problem)
        saved = {n: a for n, a in arrays.items() if n.startswith("inference.")}
        model._saved_inference = (saved, attributes["inference"])
    history = History()
    for name in _HISTORY_FIELDS:
        setattr(history, name, arrays.get(f"history.{name}", np.zeros(0)))
    events = metadata.get("events", [])
    if not isinstance(events, list):
        raise _inconsistent(path, "events is not a list")
    try:
        history.events = [
            Event(int(e["iteration"]), str(e["kind"]), str(e["message"])) for e in events
        ]
    except (KeyError, TypeError, ValueError) as err:
        raise _inconsistent(path, f"an event is malformed ({printable(str(err), 80)})") from err
    model.history_ = history
    return model


def load_model(path: str | Path) -> Any:
    r"""Load a :class:`~gradfit.GDRegressor` saved by :func:`save_model` or ``gradfit fit -o``.

    The file is checked before anything is used (see :func:`read_model`), and nothing in
    it is ever executed: there is no pickle.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    GDRegressor
        Fitted; ``predict`` gives bit for bit what the saved estimator gave.

    Raises
    ------
    FileNotFoundError, GradfitModelError
        As :func:`read_model`.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "not-a-model.gfm")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(b"\x80\x04K\x01.")  # a pickle
    >>> load_model(path)
    Traceback (most recent call last):
    ...
    gradfit._exceptions.GradfitModelError: not-a-model.gfm is not a gradfit model file (it ...
    """
    return read_model(path).model
