"""Exceptions and warnings of bayesfm.

``NotFittedError`` and ``DataConversionWarning`` mean what scikit-learn's classes of the same
names mean, and are instances of them whenever scikit-learn is imported: raising
``NotFittedError(...)`` (or warning with ``DataConversionWarning(...)``) then makes an object of
a class derived from both ours and scikit-learn's, so ``except sklearn.exceptions.NotFittedError``
and scikit-learn's own checks catch it, without bayesfm importing scikit-learn (an optional
dependency, and slow to import). Code that catches bayesfm's classes works either way.
"""

from __future__ import annotations

import sys

__all__ = ["NotFittedError", "DataConversionWarning"]

_TWINS: dict = {}


def _twin(ours: type, sk_name: str) -> type | None:
    """The class derived from ``ours`` and scikit-learn's ``sk_name`` (made once, and only when
    ``sklearn.exceptions`` is already imported), or None."""
    module = sys.modules.get("sklearn.exceptions")
    theirs = getattr(module, sk_name, None)
    if theirs is None:
        return None
    twin = _TWINS.get(ours)
    if twin is None:
        qualname = "_Sklearn" + ours.__name__
        # the same __name__ (reprs and messages read as scikit-learn's do); a __qualname__ of
        # its own, under which it is a module attribute (so its instances pickle)
        twin = type(ours.__name__, (ours, theirs), {"__module__": __name__,
                                                     "__qualname__": qualname})
        _TWINS[ours] = twin
        globals()[qualname] = twin
    return twin


def __getattr__(name):
    """Unpickling a twin in a process that has not made it yet: make it (imports sklearn)."""
    for ours, sk_name in ((NotFittedError, "NotFittedError"),
                          (DataConversionWarning, "DataConversionWarning")):
        if name == "_Sklearn" + ours.__name__:
            import sklearn.exceptions  # noqa: F401

            return _twin(ours, sk_name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class NotFittedError(ValueError, AttributeError):
    """Raised when a method that needs a fitted estimator is called before ``fit``.

    Subclasses ValueError and AttributeError, as scikit-learn's exception of the same name does,
    and is an instance of that exception when scikit-learn is imported (module docstring).
    """

    def __new__(cls, *args, **kwargs):
        if cls is NotFittedError:
            cls = _twin(NotFittedError, "NotFittedError") or cls
        return super().__new__(cls, *args, **kwargs)


class DataConversionWarning(UserWarning):
    """Input was converted to the form the estimator needs (a column-vector y to 1-d).

    An instance of scikit-learn's warning of the same name when scikit-learn is imported."""

    def __new__(cls, *args, **kwargs):
        if cls is DataConversionWarning:
            cls = _twin(DataConversionWarning, "DataConversionWarning") or cls
        return super().__new__(cls, *args, **kwargs)
