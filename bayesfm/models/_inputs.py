"""The inputs of the estimators: design matrices, DataFrames, relational designs, rows to
predict and evaluation sets, checked and converted (every error names the argument)."""

from __future__ import annotations

import copy

import numpy as np

from bayesfm.data.relational import RelationalData
from bayesfm.data.validation import check_matrix
from bayesfm.models._predict import RelationalRows

__all__ = ["is_frame", "encode_for_fit", "check_rows", "eval_matrices"]


def is_frame(X) -> bool:
    """A pandas DataFrame, recognised without importing pandas."""
    return type(X).__module__.split(".")[0] == "pandas" and hasattr(X, "columns")


def encode_for_fit(encoder_param, X, groups):
    """(X as a CSR matrix or RelationalData, groups, fitted encoder or None, feature names or
    None): a pandas DataFrame goes through a fitted copy of ``encoder_param`` (None:
    ``TableEncoder()``; its source columns give the default groups)."""
    if isinstance(X, RelationalData):
        return X, (X.default_groups() if groups is None else groups), None, None
    if is_frame(X):
        from bayesfm.data.encoders import TableEncoder

        encoder = copy.deepcopy(encoder_param) if encoder_param is not None else TableEncoder()
        if not hasattr(encoder, "fit_transform"):
            raise TypeError(f"encoder must be a bayesfm.data.encoders.TableEncoder (or have "
                            f"fit_transform/transform), got {type(encoder).__name__}")
        Xr = check_matrix(encoder.fit_transform(X), "X")
        if groups is None:
            groups = list(encoder.groups_)
        return Xr, groups, encoder, np.asarray(encoder.feature_names_, dtype=object)
    return check_matrix(X, "X"), groups, None, None


def check_rows(owner: str, X, n_features, encoder, name="X"):
    """Rows to predict: a CSR matrix of ``n_features`` columns, or ``RelationalRows``
    (``owner`` names the estimator in messages)."""
    if isinstance(X, RelationalRows):
        return X
    if isinstance(X, RelationalData):
        if X.n_features != n_features:
            raise ValueError(f"{name} has {X.n_features} features, but {owner} is expecting "
                             f"{n_features} features as input")
        return RelationalRows(X)
    if is_frame(X):
        if encoder is None:
            raise TypeError(f"this {owner} was fitted on a matrix; pass a matrix with "
                            f"{n_features} columns, not a DataFrame")
        X = encoder.transform(X)
    return check_matrix(X, name, n_features=n_features, owner=owner)


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
        try:
            Xe = check_rows(owner, X, p, encoder)
        except (TypeError, ValueError) as err:
            raise type(err)(f"eval_sets[{name!r}]: {err}") from None
        if isinstance(Xe, RelationalRows):
            raise TypeError(f"eval_sets[{name!r}]: give a matrix (a relational design's rows: "
                            f"RelationalData.expand()), not RelationalData")
        out[name] = Xe
    return out
