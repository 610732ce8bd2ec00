"""The saved-model format: a container for an estimator's state, compact, checked, and safe
to open. It knows no estimator: what it stores is what ``model.to_state(chains)`` gives (each
component of a fit describes its own state as plain values, arrays and sparse matrices), and
loading gives that back to ``cls.from_state`` of the class the file names, found in a registry
of estimator classes (every subclass of ``BaseFM`` registers itself when it is defined).

A saved model is a zip archive (uncompressed) of

* ``bayesfm-model.json``: the manifest: format name and version, the bayesfm version that
  wrote it, the estimator's class (module, qualified name, and the bayesfm estimator it
  derives from), its ``state`` as tagged JSON, and for every array its dtype, shape and
  SHA-256;
* ``checksum.sha256``: the SHA-256 of the manifest's bytes;
* ``arrays/<key>.npy``: the arrays, in NumPy's ``.npy`` format, read with
  ``allow_pickle=False``; ``<key>`` is the array's path in the state (``state/posterior/
  draws/V``).

Tagged JSON: ``{"__npy__": key}`` an array member, ``{"__csr__": {shape, indptr, indices,
data}}`` a CSR matrix, ``__tuple__``, ``__dict__`` (a dict whose keys are not all plain
strings), ``__array__`` (an object array, as a list), ``__priors__``, ``__seedseq__``,
``__generator__``; any other JSON object is a dict with string keys.

By default it keeps what prediction, ``diagnose`` and ``to_inference_data(X, y)`` need: the
draws in user units, the sweep statistics, the accumulated predictions of ``eval_sets``, the
column scales and the diagnostic rows; its size is about that of the draws (the training data
and the chains are not kept). ``chains=True`` adds the chains (their state, caches, generators
and observation models) and the training data, so that ``sample_more`` continues bit for bit
after ``load``.

Loading executes nothing from the file: values are tagged JSON and arrays ``.npy`` without
pickles, and the class is looked up by name among the registered classes (a subclass of an
estimator defined in a module that is not imported loads as the bayesfm estimator it derives
from, with a warning); no module is imported because a file names it. Every member's checksum
is verified, so a damaged or truncated file is refused with a ``ValueError`` naming it. A pickle
(what bayesfm 0.1 wrote) is refused unless ``allow_pickle=True`` is passed, since unpickling
runs code from the file. Files of format version 1 (bayesfm before the state of each
component, a fixed manifest layout) are read by ``_state_from_v1``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import warnings
import weakref
import zipfile

import numpy as np
import scipy.sparse as sp

from bayesfm._version import __version__
from bayesfm.atomic import atomic_write
from bayesfm.priors import Priors

__all__ = ["save", "load", "FORMAT", "FORMAT_VERSION"]

FORMAT = "bayesfm-model"
FORMAT_VERSION = 2
_MANIFEST = "bayesfm-model.json"
_CHECKSUM = "checksum.sha256"


# -- the registry of estimator classes ----------------------------------------------------------
_CLASSES: "weakref.WeakValueDictionary[str, type]" = weakref.WeakValueDictionary()


def _name(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register(cls) -> type:
    """Make ``cls`` loadable: ``load`` gives a file naming it to ``cls.from_state``. The
    estimators' base class calls it for every subclass (weakly held: a class that is gone
    is forgotten)."""
    _CLASSES[_name(cls)] = cls
    return cls


def _base_of(cls) -> type:
    """The nearest registered class bayesfm itself defines in the ancestry of ``cls``."""
    for base in cls.__mro__:
        if base.__module__.startswith("bayesfm.") and _CLASSES.get(_name(base)) is base:
            return base
    raise TypeError(f"{cls.__name__} does not derive from a bayesfm estimator")


def _is_estimator(obj) -> bool:
    return any(_CLASSES.get(_name(base)) is base for base in type(obj).__mro__)


# -- tagged JSON ------------------------------------------------------------------------------
def _plain_keys(value: dict) -> bool:
    return all(isinstance(k, str) and not (k.startswith("__") and k.endswith("__"))
               for k in value)


def _encode(value, where: str, writer=None):
    """``value`` as JSON-able data; numeric arrays and sparse matrices become members written
    by ``writer`` (keyed by ``where``, their path); TypeError naming ``where`` for types the
    format lacks."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.str_):
        return str(value)
    if isinstance(value, list):
        return [_encode(v, f"{where}/{i}", writer) for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, f"{where}/{i}", writer) for i, v in enumerate(value)]}
    if isinstance(value, dict):
        if _plain_keys(value):
            return {k: _encode(v, f"{where}/{k}", writer) for k, v in value.items()}
        return {"__dict__": [[_encode(k, where), _encode(v, f"{where}/{i}", writer)]
                             for i, (k, v) in enumerate(value.items())]}
    if isinstance(value, np.ndarray):
        if value.dtype != object and writer is not None:
            return {"__npy__": writer.array(where, value)}
        return {"__array__": [_encode(v, where) for v in value.tolist()],
                "dtype": value.dtype.str if value.dtype != object else "object"}
    if sp.issparse(value) and writer is not None:
        M = sp.csr_matrix(value)
        return {"__csr__": {"shape": [int(M.shape[0]), int(M.shape[1])],
                            "indptr": writer.array(where + "/indptr", M.indptr),
                            "indices": writer.array(where + "/indices", M.indices),
                            "data": writer.array(where + "/data", M.data)}}
    if isinstance(value, Priors):
        return {"__priors__": dataclasses.asdict(value)}
    if isinstance(value, np.random.SeedSequence):
        return {"__seedseq__": {"entropy": _encode(value.entropy, where),
                                "spawn_key": list(value.spawn_key),
                                "pool_size": value.pool_size}}
    if isinstance(value, np.random.Generator):
        return {"__generator__": _encode(value.bit_generator.state, where)}
    raise TypeError(f"{where}: a {type(value).__name__} ({value!r:.60}) cannot be saved in "
                    f"bayesfm's model format; use plain numbers and strings, or pickle the "
                    f"estimator (pickle.dump)")


def _decode(data, reader=None):
    """The value ``_encode`` gave ``data`` for (members read and checked by ``reader``)."""
    if isinstance(data, list):
        return [_decode(v, reader) for v in data]
    if not isinstance(data, dict):
        return data
    if "__npy__" in data:
        return reader.array(data["__npy__"])
    if "__csr__" in data:
        d = data["__csr__"]
        return sp.csr_matrix((reader.array(d["data"]), reader.array(d["indices"]),
                              reader.array(d["indptr"])), shape=tuple(d["shape"]))
    if "__tuple__" in data:
        return tuple(_decode(v, reader) for v in data["__tuple__"])
    if "__dict__" in data:
        return {_decode(k, reader): _decode(v, reader) for k, v in data["__dict__"]}
    if "__array__" in data:
        values = _decode(data["__array__"])
        if data["dtype"] == "object":
            out = np.empty(len(values), dtype=object)
            out[:] = values
            return out
        return np.array(values, dtype=np.dtype(data["dtype"]))
    if "__priors__" in data:
        return Priors(**data["__priors__"])
    if "__seedseq__" in data:
        d = data["__seedseq__"]
        return np.random.SeedSequence(d["entropy"], spawn_key=tuple(d["spawn_key"]),
                                      pool_size=d["pool_size"])
    if "__generator__" in data:
        return _generator(_decode(data["__generator__"]))
    return {k: _decode(v, reader) for k, v in data.items()}


def _generator(state: dict) -> np.random.Generator:
    bit = getattr(np.random, state["bit_generator"])()
    bit.state = state
    return np.random.Generator(bit)


# -- writing ----------------------------------------------------------------------------------
class _Writer:
    def __init__(self):
        self.arrays = {}

    def array(self, key: str, value) -> str:
        arr = np.asarray(value)
        if arr.dtype == object:
            raise TypeError(f"{key}: an object array cannot be saved as an array")
        if key in self.arrays:
            raise ValueError(f"two arrays at {key!r}")
        self.arrays[key] = np.ascontiguousarray(arr)
        return key


def _manifest(model, writer, chains: bool) -> dict:
    cls = type(model)
    state = model.to_state(chains=chains)
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "bayesfm_version": __version__,
            "class": {"module": cls.__module__, "qualname": cls.__qualname__,
                      "base": _base_of(cls).__name__},
            "state": _encode(state, "state", writer)}


def _npy_bytes(arr) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=False)
    return buf.getvalue()


def save(model, path, chains: bool = False) -> None:
    """Write ``model`` to ``path`` in the format of the module docstring, atomically."""
    writer = _Writer()
    manifest = _manifest(model, writer, chains)
    blobs = {f"arrays/{key}.npy": _npy_bytes(arr) for key, arr in writer.arrays.items()}
    manifest["arrays"] = {key: {"sha256": hashlib.sha256(blobs[f"arrays/{key}.npy"]).hexdigest(),
                                "dtype": arr.dtype.str, "shape": list(arr.shape)}
                          for key, arr in writer.arrays.items()}
    text = json.dumps(manifest, separators=(",", ":"), allow_nan=True).encode("utf-8")

    def write(fh):
        with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr(_MANIFEST, text)
            zf.writestr(_CHECKSUM, hashlib.sha256(text).hexdigest())
            for name, blob in blobs.items():
                zf.writestr(name, blob)

    atomic_write(path, write)


# -- reading ----------------------------------------------------------------------------------
class _Reader:
    def __init__(self, zf, manifest, path):
        self.zf, self.manifest, self.path = zf, manifest, path

    def array(self, key):
        meta = self.manifest["arrays"].get(key)
        if meta is None:
            raise ValueError(f"{self.path}: not a valid bayesfm model file (array {key!r} is "
                             f"missing from its manifest)")
        try:
            blob = self.zf.read(f"arrays/{key}.npy")
        except (KeyError, zipfile.BadZipFile, OSError) as exc:
            raise ValueError(f"{self.path}: damaged bayesfm model file (array {key!r}: "
                             f"{exc})") from None
        if hashlib.sha256(blob).hexdigest() != meta["sha256"]:
            raise ValueError(f"{self.path}: damaged bayesfm model file (array {key!r} does "
                             f"not match its checksum)")
        try:
            arr = np.lib.format.read_array(io.BytesIO(blob), allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise ValueError(f"{self.path}: damaged bayesfm model file (array {key!r}: "
                             f"{exc})") from None
        if arr.dtype.str != meta["dtype"] or list(arr.shape) != meta["shape"]:
            raise ValueError(f"{self.path}: damaged bayesfm model file (array {key!r} has "
                             f"another dtype or shape than its manifest says)")
        return arr


def _resolve_class(desc, path):
    """The estimator class the file names, among the registered classes only."""
    base = next((c for name, c in list(_CLASSES.items()) if name.startswith("bayesfm.")
                 and c.__name__ == desc.get("base") and _base_of(c) is c), None)
    if base is None:
        raise ValueError(f"{path}: unknown estimator base class {desc.get('base')!r}")
    name = f"{desc.get('module')}.{desc.get('qualname')}"
    cls = _CLASSES.get(name)
    if isinstance(cls, type) and issubclass(cls, base):
        return cls
    if name != _name(base):
        warnings.warn(f"{path}: the model was saved as a {name}, whose module is not imported "
                      f"here; it is loaded as the bayesfm {base.__name__} it derives from "
                      f"(import the module first to get the subclass)", UserWarning,
                      stacklevel=3)
    return base


# -- format version 1 ---------------------------------------------------------------------------
def _state_from_v1(m: dict, reader) -> dict:
    """The state (as ``to_state`` gives it) of a version-1 manifest ``m``: a fixed layout in
    which arrays were named by their keys at known places."""
    arr = reader.array

    def arrays(d):
        return {name: arr(key) for name, key in d.items()}

    def csr(d):
        return None if d is None else _decode({"__csr__": d}, reader)

    fitted = {name: _decode(value) for name, value in m["fitted"].items()}
    for name, value in m["fitted_arrays"].items():
        if name == "eval_predictions_":
            value = {s: {k: arr(v) if isinstance(v, str) else _decode(v)
                         for k, v in fields.items()} for s, fields in value.items()}
        else:
            value = arr(value)
        fitted[name] = value
    params = {name: _decode(value) for name, value in m["params"].items()}
    if m["params_encoder"] is not None:
        params["encoder"] = {"params": _decode(m["params_encoder"]), "fitted": None}
    else:
        params["encoder"] = None
    enc = m["encoder"]
    state = {"params": params, "fitted": fitted, "priors": _decode(m["priors"]),
             "observation": _decode(m["observation"]),
             "encoder": None if enc is None else {
                 "params": _decode(enc["params"]),
                 "fitted": {k: _decode(v) for k, v in enc["fitted"].items()}},
             "posterior": {"n_chains": int(fitted["n_chains_"]), "draws": arrays(m["draws"]),
                           "sweeps": arrays(m["sweeps"])},
             "diagnostic_X": csr(m["diagnostic_X"]), "training": None}
    training = m["chains"]
    if training is None:
        return state
    X = training["X_train"]
    if X["relational"]:
        X = {"direct": csr(X["direct"]),
             "blocks": [{"matrix": csr(b["matrix"]), "index": arr(b["index"]),
                         "name": b["name"]} for b in X["blocks"]]}
    else:
        X = csr(X["matrix"])
    y = training["y_train"]
    y = arr(y["array"]) if "array" in y else _decode(
        {"__array__": y["json"], "dtype": "object"})
    chains = []
    for c in training["chains"]:
        st = c["state"]
        lik = {k: arr(v) if k in ("target", "cls", "delta", "mode") else v
               for k, v in c["likelihood"].items()}
        store = c["store"]
        accum = c["accum"]
        chains.append({
            "state": {"w0": c["w0"], "alpha": c["alpha"], "t": None if st["t"] is None
                      else arr(st["t"]), **arrays({k: v for k, v in st.items() if k != "t"})},
            "rng": _generator(_decode(c["rng"])), "likelihood": lik,
            "store": {"weights": store["weights"], "draws": arrays(store["draws"]),
                      "sweeps": arrays(store["sweeps"]), "extras": _decode(store["extras"]),
                      "sweep_stats": store["sweep_stats"]},
            "accum": None if accum is None else {
                "n_draws": accum["n_draws"],
                "sets": {name: arrays(s) for name, s in accum["sets"].items()}},
            "n_burn": c["n_burn"], "thin": c["thin"], "sweeps_done": c["sweeps_done"]})
    state["training"] = {"X": X, "y": y, "chains": chains}
    return state


def _open(path):
    """(zip file, manifest) of a saved model; ValueError naming ``path`` when it is not one."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except IsADirectoryError:
        raise ValueError(f"{path}: is a directory, not a bayesfm model file") from None
    if not head:
        raise ValueError(f"{path}: empty file, not a bayesfm model file")
    if head[:1] == b"\x80":
        raise ValueError(f"{path}: is a pickle, not a bayesfm model file (bayesfm 0.1 saved "
                         f"pickles); unpickling runs code from the file: if you trust it, use "
                         f"bayesfm.load(path, allow_pickle=True)")
    if head != b"PK\x03\x04":
        raise ValueError(f"{path}: not a bayesfm model file")
    try:
        zf = zipfile.ZipFile(path)
        text = zf.read(_MANIFEST)
        check = zf.read(_CHECKSUM).decode("ascii").strip()
    except (zipfile.BadZipFile, KeyError, OSError, UnicodeDecodeError, EOFError) as exc:
        raise ValueError(f"{path}: damaged or not a bayesfm model file ({exc})") from None
    if hashlib.sha256(text).hexdigest() != check:
        raise ValueError(f"{path}: damaged bayesfm model file (its manifest does not match "
                         f"its checksum)")
    try:
        manifest = json.loads(text.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: damaged bayesfm model file ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{path}: not a bayesfm model file")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"{path}: written in format version {version!r} by bayesfm "
                         f"{manifest.get('bayesfm_version')}; this bayesfm reads versions up to "
                         f"{FORMAT_VERSION}: upgrade bayesfm")
    return zf, manifest


def load(path, allow_pickle: bool = False):
    """Load an estimator saved with ``save`` (see ``bayesfm.models._persist``).

    Refuses, with a ValueError naming the file, anything that is not a complete, undamaged
    bayesfm model file. ``allow_pickle=True`` also opens pickles (``pickle.dump`` of an
    estimator, or files of bayesfm 0.1): only for files you trust, since unpickling runs code
    from the file."""
    try:
        zf, manifest = _open(path)
    except ValueError:
        if not allow_pickle:
            raise
        import pickle

        with open(path, "rb") as fh:
            model = pickle.load(fh)
        if not _is_estimator(model):
            raise TypeError(f"{path} does not hold a bayesfm estimator (found "
                            f"{type(model).__name__})") from None
        return model
    with zf:
        try:
            reader = _Reader(zf, manifest, path)
            cls = _resolve_class(manifest["class"], path)
            if manifest["format_version"] == 1:
                state = _state_from_v1(manifest, reader)
            else:
                state = _decode(manifest["state"], reader)
            return cls.from_state(state)
        except (KeyError, TypeError, IndexError, AttributeError) as exc:
            raise ValueError(f"{path}: damaged bayesfm model file ({type(exc).__name__}: "
                             f"{exc})") from None
