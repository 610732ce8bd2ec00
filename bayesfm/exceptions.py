"""Exceptions of bayesfm."""

__all__ = ["NotFittedError"]


class NotFittedError(ValueError, AttributeError):
    """Raised when a method that needs a fitted estimator is called before ``fit``.

    Subclasses ValueError and AttributeError, as scikit-learn's exception of the same name does,
    so code written for scikit-learn catches it.
    """
