"""The version of bayesfm (one place: the package, its saved models and its ArviZ output)."""

__version__ = "0.1.0"
