"""bayesfm: Bayesian Factorization Machines fitted by Gibbs sampling (Numba kernels).

Public names: ``FMRegressor``, ``FMClassifier``, ``FMOrdinalRegressor``, ``Priors``,
``NotFittedError``, ``load``.
"""

from bayesfm.exceptions import NotFittedError
from bayesfm.models import FMClassifier, FMOrdinalRegressor, FMRegressor
from bayesfm.models._persist import load
from bayesfm.priors import Priors

__version__ = "0.1.0"

__all__ = ["FMRegressor", "FMClassifier", "FMOrdinalRegressor", "Priors", "NotFittedError",
           "load", "__version__"]
