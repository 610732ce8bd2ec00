"""The saved-model format: compact, checked, and safe to open.

A saved model is a zip archive (uncompressed) of

* ``bayesfm-model.json``: the manifest: format name and version, the bayesfm version that
  wrote it, the estimator's class, its constructor arguments, its fitted attributes, the
  observation model, the fitted encoder, and for every array its dtype, shape and SHA-256;
* ``checksum.sha256``: the SHA-256 of the manifest's bytes;
* ``arrays/<key>.npy``: the arrays, in NumPy's ``.npy`` format, read with
  ``allow_pickle=False``.

By default it keeps what prediction, ``diagnose`` and ``to_inference_data(X, y)`` need: the
draws in user units, the sweep statistics, the accumulated predictions of ``eval_sets``, the
column scales and the diagnostic rows; its size is about that of the draws (the training data
and the chains are not kept). ``chains=True`` adds the chains (their state, caches, generators
and observation models) and the training data, so that ``sample_more`` continues bit for bit
after ``load``.

Loading executes nothing from the file: values are JSON (with a few tagged types: tuples,
dicts with any keys, numpy seeds, ``Priors``) and arrays ``.npy`` without pickles, and the class
is looked up by name among the modules already imported (a subclass of an estimator defined in
a module that is not imported loads as the bayesfm estimator it derives from, with a warning);
no module is imported because a file names it. Every member's checksum is verified, so a damaged
or truncated file is refused with a ``ValueError`` naming it. A pickle (what bayesfm 0.1 wrote)
is refused unless ``allow_pickle=True`` is passed, since unpickling runs code from the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import sys
import warnings
import zipfile

import numpy as np
import scipy.sparse as sp

from bayesfm.atomic import atomic_write
from bayesfm.priors import Priors

__all__ = ["save", "load", "FORMAT", "FORMAT_VERSION"]

FORMAT = "bayesfm-model"
FORMAT_VERSION = 1
_MANIFEST = "bayesfm-model.json"
_CHECKSUM = "checksum.sha256"

#: fitted attributes written by their own code (or rebuilt at load), not generically
_SPECIAL = {"X_train_", "y_train_", "encoder_", "observation_", "priors_"}


# -- tagged JSON ------------------------------------------------------------------------------
def _encode(value, where: str):
    """``value`` as JSON-able data; TypeError naming ``where`` for types the format lacks."""
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
        return [_encode(v, where) for v in value]
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, where) for v in value]}
    if isinstance(value, dict):
        return {"__dict__": [[_encode(k, where), _encode(v, where)] for k, v in value.items()]}
    if isinstance(value, np.ndarray):
        return {"__array__": [_encode(v, where) for v in value.tolist()],
                "dtype": value.dtype.str if value.dtype != object else "object"}
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


def _decode(data):
    if isinstance(data, list):
        return [_decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    if "__tuple__" in data:
        return tuple(_decode(v) for v in data["__tuple__"])
    if "__dict__" in data:
        return {_decode(k): _decode(v) for k, v in data["__dict__"]}
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
        state = _decode(data["__generator__"])
        bit = getattr(np.random, state["bit_generator"])()
        bit.state = state
        return np.random.Generator(bit)
    return {k: _decode(v) for k, v in data.items()}


# -- writing ----------------------------------------------------------------------------------
class _Writer:
    def __init__(self):
        self.arrays = {}

    def array(self, key: str, value) -> str:
        arr = np.asarray(value)
        if arr.dtype == object:
            raise TypeError(f"{key}: an object array cannot be saved as an array")
        self.arrays[key] = np.ascontiguousarray(arr)
        return key

    def csr(self, key: str, M) -> dict:
        M = sp.csr_matrix(M)
        return {"shape": [int(M.shape[0]), int(M.shape[1])],
                "indptr": self.array(key + "/indptr", M.indptr),
                "indices": self.array(key + "/indices", M.indices),
                "data": self.array(key + "/data", M.data)}


def _bayesfm_base(cls):
    from bayesfm.models import FMClassifier, FMOrdinalRegressor, FMRegressor

    for base in cls.__mro__:
        if base in (FMRegressor, FMClassifier, FMOrdinalRegressor):
            return base.__name__
    raise TypeError(f"{cls.__name__} does not derive from a bayesfm estimator")


def _encoder_state(encoder):
    if encoder is None:
        return None
    fitted = {name: _encode(getattr(encoder, name), f"encoder_.{name}")
              for name in ("columns_", "blocks_", "feature_names_", "groups_", "n_features_")}
    return {"params": _encode(encoder.get_params(), "encoder_ parameters"), "fitted": fitted}


def _rows_description(writer, key, X):
    from bayesfm.data.relational import RelationalData

    if isinstance(X, RelationalData):
        direct, mats, idx = X.parts()
        return {"relational": True, "direct": writer.csr(key + "/direct", direct),
                "blocks": [{"matrix": writer.csr(f"{key}/block{b}", M),
                            "index": writer.array(f"{key}/block{b}/index", index),
                            "name": block.name}
                           for b, (M, index, block) in enumerate(zip(mats, idx, X.blocks))]}
    return {"relational": False, "matrix": writer.csr(key, X)}


def _labels(writer, key, values):
    """Labels (y of the training rows) as an array when their dtype allows, else JSON."""
    arr = np.asarray(values)
    if arr.dtype != object:
        return {"array": writer.array(key, arr)}
    return {"json": _encode(list(values), key)}


def _chain_description(writer, c, chain):
    key = f"chain{c}"
    st = chain.state
    state = {name: writer.array(f"{key}/state/{name}", getattr(st, name))
             for name in ("w", "Vt", "mu_w", "lam_w", "mu_v", "lam_v", "e", "q")}
    state["t"] = None if st.t is None else writer.array(f"{key}/state/t", st.t)
    lik = chain.likelihood
    likelihood = {"kind": type(lik).__name__,
                  "target": writer.array(f"{key}/likelihood/target", lik.target)}
    if hasattr(lik, "cuts"):
        cuts = lik.cuts
        likelihood.update(cls=writer.array(f"{key}/likelihood/cls", lik.cls), K=lik.K,
                          loc=cuts.loc, scale=cuts.scale,
                          delta=writer.array(f"{key}/likelihood/delta", cuts.delta),
                          mode=writer.array(f"{key}/likelihood/mode", cuts.mode),
                          n_proposed=cuts.n_proposed, n_accepted=cuts.n_accepted,
                          accepted=bool(lik._accepted))
    store = chain.store
    pending = {"draws": {name: writer.array(f"{key}/store/draws/{name}", arr)
                         for name, arr in store.arrays().items()},
               "sweeps": {name: writer.array(f"{key}/store/sweeps/{name}", arr)
                          for name, arr in store.sweeps().items()},
               "weights": store.weights, "extras": _encode(
                   {name: list(store._draws.shapes[name]) for name in store.extra_names},
                   "store extras"),
               "sweep_stats": [n for n in store._sweeps.shapes if n != "resid_rms"]}
    accum = None
    if chain.accum is not None:
        accum = {"n_draws": chain.accum.n_draws,
                 "sets": {name: {"indptr": writer.array(f"{key}/accum/{name}/indptr", r.indptr),
                                 "indices": writer.array(f"{key}/accum/{name}/indices",
                                                         r.indices),
                                 "data": writer.array(f"{key}/accum/{name}/data", r.data),
                                 "sums": writer.array(f"{key}/accum/{name}/sums",
                                                      chain.accum.sums[name])}
                          for name, r in chain.accum.sets.items()}}
    return {"w0": float(st.w0), "alpha": float(st.alpha), "state": state,
            "rng": _encode(chain.rng.bit_generator.state, "rng"),
            "likelihood": likelihood, "store": pending, "accum": accum,
            "n_burn": chain.n_burn, "thin": chain.thin, "sweeps_done": chain.sweeps_done}


def _manifest(model, writer, chains: bool) -> dict:
    from bayesfm import __version__

    model._check_fitted()
    cls = type(model)
    post = model._posterior
    post._draws.trim()
    post._sweeps.trim()
    draws = {name: writer.array(f"draws/{name}", arr) for name, arr in post._draws.arrays.items()
             if name != "yhat"}
    sweeps = {name: writer.array(f"sweeps/{name}", arr)
              for name, arr in post._sweeps.arrays.items()}
    fitted, arrays = {}, {}
    for name, value in vars(model).items():
        if not name.endswith("_") or name.startswith("_") or name in _SPECIAL:
            continue
        if name[:-1] in post.sweep_names:           # views of the sweep statistics
            continue
        if name == "eval_predictions_":
            arrays[name] = {set_name: {f.name: writer.array(f"eval/{set_name}/{f.name}",
                                                            getattr(ev, f.name))
                                       if isinstance(getattr(ev, f.name), np.ndarray)
                                       else _encode(getattr(ev, f.name), name)
                                       for f in dataclasses.fields(ev)}
                            for set_name, ev in value.items()}
            continue
        if isinstance(value, np.ndarray) and value.dtype != object:
            arrays[name] = writer.array(f"attr/{name}", value)
        else:
            fitted[name] = _encode(value, name)
    params = {name: _encode(getattr(model, name), f"parameter {name}")
              for name in model._param_names() if name != "encoder"}
    encoder = model.encoder
    params_encoder = None if encoder is None else _encode(encoder.get_params(),
                                                          "parameter encoder")
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "bayesfm_version": __version__,
        "class": {"module": cls.__module__, "qualname": cls.__qualname__,
                  "base": _bayesfm_base(cls)},
        "params": params, "params_encoder": params_encoder,
        "fitted": fitted, "fitted_arrays": arrays,
        "priors": _encode(model.priors_, "priors_"),
        "observation": _encode(model.observation_.describe(), "observation_"),
        "encoder": _encoder_state(model.encoder_),
        "draws": draws, "sweeps": sweeps,
        "diagnostic_X": None if model._diag_X is None else writer.csr("diagnostic_X",
                                                                       model._diag_X),
        "chains": None,
    }
    if chains:
        if not hasattr(model, "_chains"):
            raise ValueError("this model holds no chains (it was loaded from a file saved "
                             "without chains=True)")
        manifest["chains"] = {
            "X_train": _rows_description(writer, "X_train", model.X_train_),
            "y_train": _labels(writer, "y_train", model.y_train_),
            "chains": [_chain_description(writer, c, ch) for c, ch in enumerate(model._chains)],
        }
    return manifest


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

    def csr(self, desc):
        return sp.csr_matrix((self.array(desc["data"]), self.array(desc["indices"]),
                              self.array(desc["indptr"])), shape=tuple(desc["shape"]))


def _resolve_class(desc, path):
    """The estimator class the file names, looked up among imported modules only."""
    from bayesfm import models

    base = getattr(models, desc.get("base", ""), None)
    if base is None:
        raise ValueError(f"{path}: unknown estimator base class {desc.get('base')!r}")
    module = sys.modules.get(desc.get("module", ""))
    cls = module
    for part in str(desc.get("qualname", "")).split("."):
        cls = getattr(cls, part, None)
    if isinstance(cls, type) and issubclass(cls, base):
        return cls
    name = f"{desc.get('module')}.{desc.get('qualname')}"
    if name != f"{base.__module__}.{base.__qualname__}":
        warnings.warn(f"{path}: the model was saved as a {name}, whose module is not imported "
                      f"here; it is loaded as the bayesfm {base.__name__} it derives from "
                      f"(import the module first to get the subclass)", UserWarning,
                      stacklevel=3)
    return base


def _rebuild_encoder(params, state):
    from bayesfm.data.encoders import TableEncoder

    if params is None and state is None:
        return None
    enc = TableEncoder(**_decode(params if params is not None else state["params"]))
    if state is not None:
        for name, value in state["fitted"].items():
            value = _decode(value)
            if name in ("feature_names_", "groups_") and not isinstance(value, np.ndarray):
                value = np.asarray(value, dtype=object if name == "groups_" else str)
            setattr(enc, name, value)
    return enc


def _read_rows(reader, desc):
    from bayesfm.data.relational import RelationalData, RelationBlock

    if not desc["relational"]:
        return reader.csr(desc["matrix"])
    blocks = [RelationBlock(reader.csr(b["matrix"]), reader.array(b["index"]), b["name"])
              for b in desc["blocks"]]
    return RelationalData(reader.csr(desc["direct"]), blocks)


def _read_chain(reader, desc, data):
    from bayesfm.sampler.accumulate import PredictionMoments
    from bayesfm.sampler.chain import Chain
    from bayesfm.sampler.likelihoods import Gaussian, OrderedProbit
    from bayesfm.sampler.records import CSR
    from bayesfm.sampler.state import FMState
    from bayesfm.sampler.storage import DrawStore

    st = desc["state"]
    state = FMState(w0=desc["w0"], alpha=desc["alpha"],
                    **{name: reader.array(st[name]) for name in
                       ("w", "Vt", "mu_w", "lam_w", "mu_v", "lam_v", "e", "q")},
                    t=None if st["t"] is None else reader.array(st["t"]))
    rng_state = _decode(desc["rng"])
    bit = getattr(np.random, rng_state["bit_generator"])()
    bit.state = rng_state
    lk = desc["likelihood"]
    if lk["kind"] == "Gaussian":
        likelihood = Gaussian(reader.array(lk["target"]))
    else:
        likelihood = OrderedProbit(reader.array(lk["cls"]), lk["K"], lk["loc"], lk["scale"],
                                   reader.array(lk["delta"]))
        likelihood.target = reader.array(lk["target"])
        likelihood.cuts.mode = reader.array(lk["mode"])
        likelihood.cuts.n_proposed = lk["n_proposed"]
        likelihood.cuts.n_accepted = lk["n_accepted"]
        likelihood._accepted = lk["accepted"]
    pend = desc["store"]
    extras = {name: tuple(shape) for name, shape in _decode(pend["extras"]).items()}
    store = DrawStore(0, data.n_features, state.rank, data.n_groups, pend["weights"],
                      extras=extras, sweep_stats=tuple(pend["sweep_stats"]))
    draws = {name: reader.array(key) for name, key in pend["draws"].items()}
    for s in range(next(iter(draws.values())).shape[0] if draws else 0):
        store._draws.add({name: arr[s] for name, arr in draws.items()})
    sweeps = {name: reader.array(key) for name, key in pend["sweeps"].items()}
    for s in range(next(iter(sweeps.values())).shape[0] if sweeps else 0):
        store.record_sweep({name: arr[s] for name, arr in sweeps.items()})
    accum = None
    if desc["accum"] is not None:
        accum = PredictionMoments({})
        for name, a in desc["accum"]["sets"].items():
            accum.sets[name] = CSR(reader.array(a["indptr"]), reader.array(a["indices"]),
                                   reader.array(a["data"]))
            accum.sums[name] = reader.array(a["sums"])
        accum.n_draws = desc["accum"]["n_draws"]
    return Chain(state=state, rng=np.random.Generator(bit), likelihood=likelihood, store=store,
                 n_burn=desc["n_burn"], thin=desc["thin"], sweeps_done=desc["sweeps_done"],
                 accum=accum)


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
    from bayesfm.models.base import BaseFM

    try:
        zf, manifest = _open(path)
    except ValueError:
        if not allow_pickle:
            raise
        import pickle

        with open(path, "rb") as fh:
            model = pickle.load(fh)
        if not isinstance(model, BaseFM):
            raise TypeError(f"{path} does not hold a bayesfm estimator (found "
                            f"{type(model).__name__})") from None
        return model
    with zf:
        try:
            return _build(_Reader(zf, manifest, path), manifest, path)
        except (KeyError, TypeError, IndexError, AttributeError) as exc:
            raise ValueError(f"{path}: damaged bayesfm model file ({type(exc).__name__}: "
                             f"{exc})") from None


def _build(reader, manifest, path):
    from bayesfm.models._posterior import Posterior
    from bayesfm.models._predict import yhat_draws
    from bayesfm.models.evaluation import EvalPrediction
    from bayesfm.models.observation import from_description

    cls = _resolve_class(manifest["class"], path)
    model = cls.__new__(cls)
    for name, value in manifest["params"].items():
        setattr(model, name, _decode(value))
    model.encoder = _rebuild_encoder(manifest["params_encoder"], None)
    for name, value in manifest["fitted"].items():
        setattr(model, name, _decode(value))
    for name, value in manifest["fitted_arrays"].items():
        if name == "eval_predictions_":
            model.eval_predictions_ = {
                set_name: EvalPrediction(**{k: reader.array(v) if isinstance(v, str)
                                            else _decode(v) for k, v in fields.items()})
                for set_name, fields in value.items()}
        else:
            setattr(model, name, reader.array(value))
    model.priors_ = _decode(manifest["priors"])
    model.encoder_ = _rebuild_encoder(None, manifest["encoder"])
    model.observation_ = from_description(_decode(manifest["observation"]),
                                          getattr(model, "classes_", None))
    diag = manifest["diagnostic_X"]
    model._diag_X = None if diag is None else reader.csr(diag)
    post = Posterior(int(model.n_chains_))
    draws = {name: reader.array(key) for name, key in manifest["draws"].items()}
    sweeps = {name: reader.array(key) for name, key in manifest["sweeps"].items()}
    post.append_draws([{name: arr[c] for name, arr in draws.items()}
                       for c in range(post.n_chains)])
    post.append_sweeps([{name: arr[c] for name, arr in sweeps.items()}
                        for c in range(post.n_chains)])
    if model._diag_X is not None and post.n_draws:
        yhat = yhat_draws(post, model._diag_X, getattr(model, "n_threads", None))
        post._draws.arrays["yhat"] = yhat.reshape(post.n_chains, post.n_draws, -1)
    model._posterior = post
    chains = manifest["chains"]
    if chains is not None:
        model.X_train_ = _read_rows(reader, chains["X_train"])
        yt = chains["y_train"]
        model.y_train_ = reader.array(yt["array"]) if "array" in yt else np.asarray(
            _decode(yt["json"]), dtype=object)
        model._data = model._design_for(model.X_train_)
        model._chains = [_read_chain(reader, c, model._data) for c in chains["chains"]]
    model._after_absorb()
    return model
