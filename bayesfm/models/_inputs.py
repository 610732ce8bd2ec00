"""The inputs of the estimators: design matrices, DataFrames, relational designs, rows to
predict and evaluation sets, checked and converted (every error names the argument). A
DataFrame is encoded into a matrix here; every other kind of rows goes behind the protocol of
``models._rows`` (``rows_of``).

Tables other than pandas' (polars, and anything else that speaks the dataframe interchange
protocol or Arrow's C stream) are read into pandas (``as_pandas``) and then encoded as a pandas
DataFrame is: strings and categoricals one-hot, numbers as they are. Neither library is a
dependency: pandas is imported only when such a table is given."""

from __future__ import annotations

import copy
import warnings

import numpy as np

from bayesfm.models._rows import NewCategories, rows_of

__all__ = ["is_frame", "as_pandas", "encode_for_fit", "check_rows", "eval_matrices",
           "check_levels", "central_probs"]


def _library(X) -> str:
    """The top-level package of ``X``'s type ("pandas", "polars", "numpy", ...)."""
    return type(X).__module__.split(".")[0]


def is_frame(X) -> bool:
    """A pandas DataFrame, recognised without importing pandas."""
    return _library(X) == "pandas" and hasattr(X, "columns")


def _is_table(X) -> bool:
    """Another library's table: not pandas, not an array or sparse matrix, and speaking the
    dataframe interchange protocol or Arrow's C stream (polars)."""
    if is_frame(X) or isinstance(X, np.ndarray) or _library(X) == "scipy":
        return False
    return hasattr(X, "__dataframe__") or hasattr(X, "__arrow_c_stream__")


def as_pandas(X, name: str = "X"):
    """``X`` as a pandas DataFrame when it is another library's table (``_is_table``); else
    ``X``. polars frames go through their own ``to_dict`` (no pyarrow needed), other tables
    through the dataframe interchange protocol, or Arrow (pandas' ``from_arrow``, or
    ``to_pandas``) when that is all they speak."""
    if not _is_table(X):
        return X
    import pandas as pd

    errors = []
    if _library(X) == "polars" and hasattr(X, "to_dict"):
        try:
            return pd.DataFrame(X.to_dict(as_series=False))
        except Exception as exc:  # noqa: BLE001 (try the next way)
            errors.append(exc)
    if hasattr(X, "__dataframe__"):
        try:
            with warnings.catch_warnings():     # pandas 3 deprecates the protocol it reads
                warnings.simplefilter("ignore", DeprecationWarning)
                return pd.api.interchange.from_dataframe(X, allow_copy=True)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
    for convert in (getattr(pd.DataFrame, "from_arrow", None), lambda t: t.to_pandas()):
        if convert is None:
            continue
        try:
            return convert(X)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
    raise TypeError(f"{name}: a {_library(X)} {type(X).__name__} could not "
                    f"be read as a table ({errors[0] if errors else 'no way to read it'}); "
                    f"convert it to a pandas DataFrame or a matrix") from None


def encode_for_fit(encoder_param, X, groups):
    """(the rows of X behind the protocol of ``models._rows``, groups, fitted encoder or None,
    feature names or None): a pandas DataFrame goes through a fitted copy of ``encoder_param``
    (None: ``TableEncoder()``; its source columns give the default groups); other rows give
    their own default groups."""
    X = as_pandas(X)
    if is_frame(X):
        from bayesfm.data.encoders import TableEncoder

        encoder = copy.deepcopy(encoder_param) if encoder_param is not None else TableEncoder()
        if not hasattr(encoder, "fit_transform"):
            raise TypeError(f"encoder must be a bayesfm.data.encoders.TableEncoder (or have "
                            f"fit_transform/transform), got {type(encoder).__name__}")
        rows = rows_of(encoder.fit_transform(X), "X")
        if groups is None:
            groups = list(encoder.groups_)
        return rows, groups, encoder, np.asarray(encoder.feature_names_, dtype=object)
    rows = rows_of(X, "X")
    return rows, (rows.default_groups() if groups is None else groups), None, None


def check_rows(owner: str, X, n_features, encoder, name="X", fit_groups=None):
    """Rows to predict, behind the protocol of ``models._rows``, with ``n_features`` columns
    (``owner`` names the estimator in messages). ``fit_groups``: the fitted ``(groups_,
    group_index_)``, for rows with new categories; without them (evaluation sets) a DataFrame's
    unseen categories contribute nothing. A DataFrame goes through ``encoder``: its categories
    unseen at fit become ``NewCategories`` (drawn with seed 0, or the ``random_state`` of a
    ``NewCategories`` holding the frame)."""
    random_state = 0
    if isinstance(X, NewCategories):
        inner = as_pandas(X.X, name)
        if is_frame(inner):
            X, random_state = inner, X.random_state
    X = as_pandas(X, name)
    if is_frame(X):
        if encoder is None:
            raise TypeError(f"this {owner} was fitted on a matrix; pass a matrix with "
                            f"{n_features} columns, not a DataFrame")
        if fit_groups is None or not hasattr(encoder, "transform_new"):
            frame = X
            X = encoder.transform(frame)
            if hasattr(encoder, "transform_new") and encoder.transform_new(frame)[1].shape[0]:
                warnings.warn(f"{name}: categories unseen at fit contribute nothing here "
                              f"(accumulated predictions of evaluation sets cannot draw them "
                              f"from their group's prior); predict these rows after the fit "
                              f"for that", UserWarning, stacklevel=4)
        else:
            X, siblings, _ = encoder.transform_new(X)
            if siblings.shape[0]:
                labels, gidx = fit_groups
                X = NewCategories(X, [labels[gidx[j]] for j in siblings], random_state)
    labels = None if fit_groups is None else fit_groups[0]
    return rows_of(X, name, n_features=n_features, owner=owner, group_labels=labels)


def eval_matrices(owner: str, eval_sets, p, encoder):
    """Validate ``eval_sets`` (dict name -> X) into CSR matrices with p columns."""
    if eval_sets is None:
        return {}
    if not isinstance(eval_sets, dict):
        raise TypeError(f"eval_sets must be a dict of name -> X, got {type(eval_sets).__name__}")
    out = {}
    for name, X in eval_sets.items():
        if not isinstance(name, str):
            raise TypeError(f"eval_sets: names must be strings, got {name!r}")
        where = f"eval_sets[{name!r}]"
        try:
            out[name] = check_rows(owner, X, p, encoder, name=where).matrix(where)
        except (TypeError, ValueError) as err:
            if str(err).startswith(where):
                raise
            raise type(err)(f"{where}: {err}") from None
    return out


def check_levels(level, name: str = "level"):
    """(levels (L,) float64, whether ``level`` was one number): one level or a sequence of
    levels, each a number strictly between 0 and 1 (ValueError naming ``name`` otherwise)."""
    scalar = np.ndim(level) == 0
    values = [level] if scalar else (list(level) if np.ndim(level) == 1 else None)
    if not values or any(isinstance(v, (bool, np.bool_))
                         or not isinstance(v, (int, float, np.integer, np.floating))
                         or not 0 < v < 1 for v in values):
        raise ValueError(f"{name} must be a number strictly between 0 and 1, or a non-empty "
                         f"sequence of such numbers, got {level!r}")
    return np.array(values, dtype=np.float64), scalar


def central_probs(levels) -> np.ndarray:
    """The probabilities of the central intervals of ``levels`` (L,): (2L,), the lower and upper
    tail point of each level in turn."""
    return np.column_stack([(1 - levels) / 2, (1 + levels) / 2]).ravel()
