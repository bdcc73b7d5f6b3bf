"""Read neural-network checkpoints one tensor at a time.

Formats: safetensors (one file, or shards listed in ``model.safetensors.index.json``),
NumPy ``.npz`` and GGUF (through the ``gguf`` package, dequantized). Opening a checkpoint
reads only the headers; :meth:`Checkpoint.read` loads one tensor (or a block of its rows)
and returns it upcast to float32 -- bit-exact from F16 and BF16 -- or float64 for F64
storage. The whole model is never held in memory.

Malformed, truncated or unknown files, and paths that are not regular files (a device, a
pipe, a directory named as a shard) or cannot be read, raise a ``ValueError`` that names
the file. The shards of a sharded checkpoint must lie in the index's folder.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..arguments import check_choice

__all__ = ["TensorInfo", "Checkpoint", "open_checkpoint", "checkpoint_files", "upcast", "LOAD_DTYPES",
           "round_to_load_dtype"]

# Storage dtypes the readers upcast; everything else (integers, bool) is not a weight.
_FLOAT_NAMES = {"F16", "BF16", "F32", "F64"}


@dataclass(frozen=True)
class TensorInfo:
    """What the header says about one tensor.

    Attributes
    ----------
    name : str
        Name in the checkpoint (GGUF names stay GGUF names, e.g. ``blk.0.attn_q.weight``).
    shape : tuple of int
        NumPy (row-major) shape; for GGUF the reverse of the ``ne`` order it stores.
    dtype : str
        Storage type as the format names it: ``F32``, ``BF16``, ``F16``, ``F64``, ``I64``,
        ``BOOL``, or a GGUF quantization such as ``Q4_1``.
    file : str
        The file that holds it (one shard of a sharded checkpoint).
    """

    name: str
    shape: tuple
    dtype: str
    file: str

    @property
    def is_float(self):
        """True when :meth:`Checkpoint.read` can return it as floating-point values."""
        return self.dtype in _FLOAT_NAMES or self.dtype.startswith(("Q", "IQ", "TQ"))

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))


def upcast(array, name="tensor", dtype=None):
    """Float16/bfloat16/float32 to float32 (or to ``dtype=float64``), bit-exactly.

    Every float16 and bfloat16 value is a float32 value (and every float32 a float64), so
    ``astype`` is exact: for bfloat16 it is the 16-bit shift of the bit pattern into the
    high half of a float32. float64 storage stays float64.
    """
    dt = array.dtype
    if not (dt in (np.float16, np.float32, np.float64) or dt.name == "bfloat16"):
        raise TypeError(f"{name} has dtype {dt}; only floating-point weights can be read")
    if dtype is not None:
        check_choice(np.dtype(dtype).name, "dtype", ("float32", "float64"))
    if dt == np.float64:
        return array
    target = np.float32 if dtype is None else np.dtype(dtype)
    return array if dt == target else array.astype(target)


#: Precision the weights are analysed in: ``"auto"`` as stored (what ``read`` returns,
#: exactly), ``"bf16"`` rounded to bfloat16 first, as a model loaded with
#: ``torch_dtype=torch.bfloat16`` (the LIFT reference's loader) holds them.
LOAD_DTYPES = ("auto", "bf16")


def round_to_load_dtype(W, load_dtype="auto"):
    """The weights as a training code that loads the model in ``load_dtype`` sees them.

    Parameters
    ----------
    W : ndarray of float32 or float64
        Weights (any shape) as :meth:`Checkpoint.read` returns them; modified in place
        for ``"bf16"`` (one 2-byte copy on the way).
    load_dtype : {"auto", "bf16"}
        ``"auto"``: returned unchanged. ``"bf16"``: each value rounded to the nearest
        bfloat16 (ties to even, ``ml_dtypes``), which is what ``torch``'s
        ``float32 -> bfloat16`` cast does. float32 storage read as float64 holds the
        float32 values exactly, so one rounding of the float64 value is that cast.
        Values beyond the bfloat16 range become ``inf`` (and the analysis then refuses
        the matrix as it would in bf16 training); bfloat16 storage is unchanged.

    Returns
    -------
    ndarray
        ``W`` itself.

    Examples
    --------
    >>> import numpy as np
    >>> round_to_load_dtype(np.array([1 + 2.0**-8, 1 + 3 * 2.0**-9, 0.1]), "bf16").tolist()
    [1.0, 1.0078125, 0.10009765625]
    """
    check_choice(load_dtype, "load_dtype", LOAD_DTYPES)
    if load_dtype == "bf16":
        import ml_dtypes  # a lift extra; only this option needs it

        W[...] = W.astype(ml_dtypes.bfloat16)  # exact upcast back into W's own buffer
    return W


def _malformed(path, kind, exc):
    return ValueError(f"{path}: malformed or truncated {kind} file ({exc})")


def _unreadable(path, exc):
    return ValueError(f"{path}: cannot read it ({exc.strerror or exc})")


def _require_file(path):
    """A regular file, or a ``ValueError`` naming ``path``: a device or a directory would
    fail deep in a reader, and opening a named pipe would wait for a writer forever."""
    if not os.path.lexists(path):
        raise ValueError(f"{path}: no such file")
    if not os.path.isfile(path):
        raise ValueError(f"{path}: not a regular file (a directory, device or pipe); "
                         "name a checkpoint file or its folder")


def _rows_slice(rows, n_rows, name):
    if rows is None:
        return slice(0, n_rows)
    start, stop, step = rows.indices(n_rows)
    if step != 1:
        raise ValueError(f"rows must be a contiguous slice for {name}, got step {step}")
    return slice(start, stop)


class Checkpoint:
    """A checkpoint opened for reading one tensor at a time (base class).

    Use :func:`open_checkpoint`, which picks the subclass from the file. Use it as a
    context manager or call :meth:`close`.

    Attributes
    ----------
    path : pathlib.Path
    format : str
        ``"safetensors"``, ``"safetensors-sharded"``, ``"npz"`` or ``"gguf"``.
    tensors : dict of str to TensorInfo
        Every tensor of the checkpoint, in the order of its header.
    """

    format = "base"

    def __init__(self, path):
        self.path = Path(path)
        self.tensors = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"{type(self).__name__}({str(self.path)!r}, {len(self.tensors)} tensors)"

    def close(self):
        """Release file handles (readers of formats that keep them)."""

    def info(self, name):
        """The :class:`TensorInfo` of ``name`` (``KeyError`` naming it if absent)."""
        try:
            return self.tensors[name]
        except KeyError:
            raise KeyError(f"{self.path}: no tensor named {name!r}") from None

    def read(self, name, rows=None, dtype=None):
        """Load one tensor, or a contiguous block of its rows, as float32/float64.

        Parameters
        ----------
        name : str
        rows : slice, optional
            Rows ``rows.start:rows.stop`` of a 2-D tensor; safetensors and GGUF read
            only those rows from disk, ``.npz`` loads the tensor and slices it.
        dtype : {None, numpy.float32, numpy.float64}
            ``float64`` upcasts straight from the stored type (no float32 copy on the
            way, which lowers the peak memory of a float64 computation).

        Returns
        -------
        ndarray
            float32 for F32, F16, BF16 and quantized storage (exact upcast), float64 for
            F64 or when asked. Always a fresh array that owns its memory.
        """
        info = self.info(name)
        if not info.is_float:
            raise TypeError(f"{self.path}: tensor {name!r} has dtype {info.dtype}; "
                            "only floating-point weights can be read")
        sl = None
        if rows is not None:
            if len(info.shape) < 1:
                raise ValueError(f"{name!r} is a scalar; rows cannot be selected")
            sl = _rows_slice(rows, info.shape[0], name)
        try:
            out = self._read(info, sl)
        except Exception as exc:  # noqa: BLE001 - I/O and format errors of the libraries
            raise _malformed(info.file, self.format, f"reading {name!r}: {exc}") from exc
        expected = info.shape if sl is None else (sl.stop - sl.start,) + tuple(info.shape[1:])
        if tuple(out.shape) != tuple(expected):
            raise ValueError(f"{info.file}: tensor {name!r} decoded to shape {out.shape}, "
                             f"header says {expected} (malformed file)")
        out = upcast(out, name, dtype)
        return out if out.flags.owndata and out.flags.writeable else out.copy()

    def _read(self, info, rows):  # pragma: no cover - abstract
        raise NotImplementedError


# ----------------------------------------------------------------------------- safetensors


class SafetensorsCheckpoint(Checkpoint):
    """One ``.safetensors`` file, or the shards of a ``*.safetensors.index.json``.

    Files are opened with ``safetensors.safe_open`` (memory-mapped) for each read and
    closed right after, so only the tensor being read is touched.
    """

    format = "safetensors"

    def __init__(self, path, files=None):
        super().__init__(path)
        import ml_dtypes  # noqa: F401 - registers 'bfloat16' with NumPy, which BF16 reads need
        from safetensors import SafetensorError, safe_open

        self._safe_open = safe_open
        files = [self.path] if files is None else files
        self.metadata = {}
        for file in files:
            _require_file(file)
            try:
                with safe_open(str(file), framework="numpy") as fh:
                    self.metadata.update(fh.metadata() or {})
                    for name in fh.keys():
                        sl = fh.get_slice(name)
                        self.tensors[name] = TensorInfo(name, tuple(int(s) for s in sl.get_shape()),
                                                        str(sl.get_dtype()), str(file))
            except FileNotFoundError:
                raise ValueError(f"{file}: no such file") from None
            except SafetensorError as exc:
                raise _malformed(file, "safetensors", exc) from None
            except OSError as exc:
                raise _unreadable(file, exc) from None

    def _read(self, info, rows):
        with self._safe_open(info.file, framework="numpy") as fh:
            if rows is None:
                return fh.get_tensor(info.name)
            return fh.get_slice(info.name)[rows]


def _read_index(path):
    """The ``weight_map`` of a ``*.safetensors.index.json``."""
    try:
        index = json.loads(Path(path).read_text())
        weight_map = index["weight_map"]
        if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
            raise TypeError("weight_map is not an object of file names")
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: malformed safetensors index ({type(exc).__name__}: {exc}); "
                         "expected a JSON object with a 'weight_map'") from None
    except OSError as exc:
        raise _unreadable(path, exc) from None
    return weight_map


def _shard_roots(folder):
    """Where the shards of an index in ``folder`` may resolve to (symbolic links followed).

    The folder itself, and in the Hugging Face hub cache (``models--ORG--NAME/snapshots/
    REVISION/``, whose files are symbolic links to ``../../blobs/HASH``) that model's
    ``blobs`` folder too: the cache is the usual place of a downloaded checkpoint.
    """
    real = os.path.realpath(folder)
    roots = [real]
    if os.path.basename(os.path.dirname(real)) == "snapshots":
        roots.append(os.path.join(os.path.dirname(os.path.dirname(real)), "blobs"))
    return [r.rstrip(os.sep) + os.sep for r in roots]


def _shard_files(path, weight_map):
    """The shard files of an index, in order, each confined to the index's folder.

    An index is data, possibly from an untrusted download: a shard named by an absolute
    path or with ``..`` leaving the folder, or a symbolic link in the folder that resolves
    outside it, would make the reader open any file of the machine (``/etc/passwd`` was
    opened and parsed). Shards in subfolders are fine, and so are the links of the Hugging
    Face cache into its ``blobs`` folder (:func:`_shard_roots`).
    """
    folder = Path(path).parent
    roots = _shard_roots(folder)
    files = []
    for shard in weight_map.values():
        file = folder / shard
        named = os.path.normpath(shard)
        real = os.path.realpath(file)
        if (os.path.isabs(shard) or named == os.pardir or named.startswith(os.pardir + os.sep)
                or not any(real.startswith(root) for root in roots)):
            raise ValueError(f"{path}: shard {shard!r} is outside the checkpoint's folder "
                             f"{folder}; an index may only name files in its folder")
        if file not in files:
            files.append(file)
    return files


def _open_index(path):
    """The shards of a sharded safetensors checkpoint, in the order of the index."""
    weight_map = _read_index(path)
    ckpt = SafetensorsCheckpoint(path, _shard_files(path, weight_map))
    missing = sorted(set(weight_map) - set(ckpt.tensors))
    if missing:
        raise ValueError(f"{path}: the index lists tensors that no shard holds: {missing[:5]}")
    wrong = [n for n, shard in weight_map.items()
             if Path(ckpt.tensors[n].file) != Path(path).parent / shard]
    if wrong:
        raise ValueError(f"{path}: tensors found in another shard than the index says: {wrong[:5]}")
    ckpt.format = "safetensors-sharded"
    return ckpt


def checkpoint_files(path):
    """The paths a checkpoint consists of, for output checks (no file is opened but an index).

    A folder stands for every file under it (:func:`rsketch.io.check_outputs` refuses an
    output inside it); an index for itself and its shards; any other path for itself. An
    index that cannot be read counts as itself: opening the checkpoint reports the error.

    Examples
    --------
    >>> checkpoint_files("model.safetensors")
    [PosixPath('model.safetensors')]
    """
    p = Path(path)
    if p.name.lower().endswith(".index.json") and p.is_file():
        try:
            return [p, *_shard_files(p, _read_index(p))]
        except ValueError:
            return [p]
    return [p]


# ------------------------------------------------------------------------------------ npz


class NpzCheckpoint(Checkpoint):
    """A NumPy ``.npz`` archive; shapes come from each member's ``.npy`` header."""

    format = "npz"

    def __init__(self, path):
        super().__init__(path)
        try:
            self._npz = np.load(self.path, allow_pickle=False)
            if not isinstance(self._npz, np.lib.npyio.NpzFile):
                raise ValueError("not an .npz archive")
            for name in self._npz.files:
                with self._npz.zip.open(name + ".npy") as fh:
                    shape, dtype = _npy_header(fh)
                code = {"float16": "F16", "float32": "F32", "float64": "F64"}.get(
                    np.dtype(dtype).name, np.dtype(dtype).name.upper())
                self.tensors[name] = TensorInfo(name, tuple(shape), code, str(self.path))
        except FileNotFoundError:
            raise ValueError(f"{path}: no such file") from None
        except (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError) as exc:
            raise _malformed(path, "npz", exc) from None

    def _read(self, info, rows):
        arr = self._npz[info.name]
        if arr.ndim and rows is not None:
            return arr[rows]
        return arr

    def close(self):
        self._npz.close()


def _npy_header(fh):
    """(shape, dtype) from the header of a ``.npy`` member, without reading its data."""
    fmt = np.lib.format
    version = fmt.read_magic(fh)
    if version == (1, 0):
        shape, _, dtype = fmt.read_array_header_1_0(fh)
    elif version == (2, 0):
        shape, _, dtype = fmt.read_array_header_2_0(fh)
    else:  # format 3.0 (utf-8 field names) has no public header reader
        shape, _, dtype = fmt._read_array_header(fh, version)
    return shape, dtype


# ----------------------------------------------------------------------------------- GGUF


class GGUFCheckpoint(Checkpoint):
    """A GGUF file (llama.cpp), dequantized to float32 by ``gguf.quants.dequantize``.

    GGUF stores dimensions innermost first (``ne``); :attr:`TensorInfo.shape` is the
    NumPy order, i.e. PyTorch's ``(out_features, in_features)`` for linear weights. Rows
    are read by slicing the memory-mapped quantized rows before dequantizing them.
    """

    format = "gguf"

    def __init__(self, path):
        super().__init__(path)
        import gguf

        try:
            self._reader = gguf.GGUFReader(str(self.path), "r")
        except FileNotFoundError:
            raise ValueError(f"{path}: no such file") from None
        except OSError as exc:
            raise _unreadable(path, exc) from None
        except Exception as exc:  # noqa: BLE001 - the reader raises several kinds
            raise _malformed(path, "GGUF", exc) from None
        self._by_name = {}
        for t in self._reader.tensors:
            shape = tuple(int(s) for s in reversed(t.shape.tolist()))
            self.tensors[t.name] = TensorInfo(t.name, shape, t.tensor_type.name, str(self.path))
            self._by_name[t.name] = t

    def _read(self, info, rows):
        from gguf.quants import dequantize

        t = self._by_name[info.name]
        data = t.data if rows is None else t.data[rows]
        return dequantize(np.asarray(data), t.tensor_type)

    def close(self):
        self._reader = None
        self._by_name = {}


# ------------------------------------------------------------------------------ dispatch


def open_checkpoint(path):
    """Open a checkpoint for reading one tensor at a time; the format is detected.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.safetensors`` file, a ``*.safetensors.index.json`` (sharded), an ``.npz``, a
        ``.gguf`` file, or a directory holding one of them (a Hugging Face model folder:
        ``model.safetensors.index.json`` wins over single files).

    Returns
    -------
    Checkpoint

    Raises
    ------
    ValueError
        The file does not exist, is not a regular file, cannot be read, is malformed or
        truncated, or the format is unknown; a shard outside the index's folder.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> from safetensors.numpy import save_file
    >>> from rsketch.lift import open_checkpoint
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> save_file({"layers.0.q.weight": np.ones((64, 48), np.float32)}, path)
    >>> with open_checkpoint(path) as ckpt:                 # also .gguf, .npz, a sharded index
    ...     W = ckpt.read("layers.0.q.weight", dtype=np.float64)
    >>> W.shape, W.dtype
    ((64, 48), dtype('float64'))
    """
    try:
        return _open(Path(path), path)
    except OSError as exc:   # a folder that cannot be listed, a file that cannot be opened
        raise _unreadable(path, exc) from None


def _open(p, path):
    if p.is_dir():
        p = _pick_in_directory(p)
    if not p.exists():
        raise ValueError(f"{path}: no such file or directory")
    _require_file(p)
    name = p.name.lower()
    if name.endswith(".index.json"):
        return _open_index(p)
    if name.endswith(".safetensors"):
        return SafetensorsCheckpoint(p)
    if name.endswith(".npz"):
        return NpzCheckpoint(p)
    if name.endswith(".gguf"):
        return GGUFCheckpoint(p)
    with open(p, "rb") as fh:  # unknown extension: the magic bytes decide
        magic = fh.read(4)
    if magic == b"GGUF":
        return GGUFCheckpoint(p)
    if magic[:2] == b"PK":
        return NpzCheckpoint(p)
    return SafetensorsCheckpoint(p)


def _pick_in_directory(folder):
    for pattern in ("model.safetensors.index.json", "*.safetensors.index.json", "model.safetensors",
                    "*.safetensors", "*.gguf", "*.npz"):
        found = sorted(folder.glob(pattern))
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise ValueError(f"{folder}: several checkpoints match {pattern!r} "
                             f"({', '.join(f.name for f in found[:4])}); name one")
    raise ValueError(f"{folder}: no checkpoint (.safetensors, index .json, .gguf, .npz) in it")
