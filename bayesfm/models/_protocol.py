"""The scikit-learn estimator protocol of the estimators: parameters (``get_params`` /
``set_params`` with nested ``encoder__...`` entries), tags, ``repr``, and pickling with a
version stamp (scikit-learn's conventions: ``__init__`` stores its arguments, fitted state lives
in attributes ending in ``_``)."""

from __future__ import annotations

import inspect
import warnings

__all__ = ["EstimatorProtocol"]


def _is_default(value, default) -> bool:
    """Whether a parameter still has its default (arrays and other values that do not compare
    to a single bool count as set)."""
    if value is default:
        return True
    try:
        return bool(value == default)
    except (TypeError, ValueError):
        return False


class EstimatorProtocol:
    """scikit-learn's estimator protocol, without importing scikit-learn."""

    _estimator_type = "regressor"
    #: classifiers: whether more than two classes can be fitted (scikit-learn's tag)
    _multi_class = False
    #: scikit-learn conformance checks that fail by design, with the reason (passed as
    #: ``expected_failed_checks`` to ``check_estimator`` / ``parametrize_with_checks``)
    _sklearn_expected_failed_checks: dict = {}

    # -- parameters ---------------------------------------------------------------------------
    @classmethod
    def _param_names(cls):
        sig = inspect.signature(cls.__init__)
        return sorted(p.name for p in sig.parameters.values()
                      if p.name != "self" and p.kind != p.VAR_KEYWORD)

    def get_params(self, deep: bool = True) -> dict:
        """The constructor arguments, as scikit-learn's ``get_params``: with ``deep``, also the
        parameters of nested objects that have ``get_params`` (the encoder), as
        ``encoder__min_count`` and so on, so ``GridSearchCV`` can tune them."""
        out = {}
        for name in self._param_names():
            value = getattr(self, name)
            out[name] = value
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                for key, sub in value.get_params(deep=True).items():
                    out[f"{name}__{key}"] = sub
        return out

    def set_params(self, **params):
        """Set constructor arguments, and nested ones as ``encoder__min_count=2`` (scikit-learn's
        convention); unknown names raise ValueError. Returns self."""
        valid = set(self._param_names())
        nested: dict = {}
        for key, value in params.items():
            name, sep, sub = key.partition("__")
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}; "
                                 f"valid parameters: {sorted(valid)}")
            if sep:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
        for name, sub_params in nested.items():
            target = getattr(self, name)
            if not hasattr(target, "set_params"):
                raise ValueError(f"cannot set {sorted(name + '__' + k for k in sub_params)}: "
                                 f"{name} is {target!r}, which has no parameters (set {name} "
                                 f"first, e.g. {name}=TableEncoder())")
            target.set_params(**sub_params)
        return self

    def __sklearn_tags__(self):
        """Estimator tags for scikit-learn >= 1.6 (imported only when scikit-learn asks)."""
        from sklearn.utils import ClassifierTags, InputTags, RegressorTags, Tags, TargetTags

        kind = getattr(self, "_estimator_type", "regressor")
        return Tags(
            estimator_type=kind,
            target_tags=TargetTags(required=True),
            classifier_tags=(ClassifierTags(multi_class=self._multi_class)
                             if kind == "classifier" else None),
            regressor_tags=RegressorTags() if kind == "regressor" else None,
            input_tags=InputTags(sparse=True),
            non_deterministic=False,
        )

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__)
        parts = []
        for name in self._param_names():
            value = getattr(self, name)
            default = sig.parameters[name].default
            if default is inspect.Parameter.empty or not _is_default(value, default):
                parts.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def __getstate__(self):
        """Pickling: the whole estimator, chains included, stamped with the bayesfm version
        (a mismatch warns at unpickling, as scikit-learn's estimators do)."""
        from bayesfm._version import __version__

        state = dict(self.__dict__)
        state["_bayesfm_version"] = __version__
        return state

    def __setstate__(self, state):
        from bayesfm._version import __version__

        version = state.pop("_bayesfm_version", None)
        if version is not None and version != __version__:
            warnings.warn(f"unpickling a {type(self).__name__} pickled by bayesfm {version} "
                          f"with bayesfm {__version__}: it may not work", UserWarning,
                          stacklevel=2)
        self.__dict__.update(state)
