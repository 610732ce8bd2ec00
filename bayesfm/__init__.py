"""bayesfm: Bayesian Factorization Machines fitted by Gibbs sampling (Numba kernels).

Public names: ``FMRegressor``, ``Priors``, ``NotFittedError``.
"""

from bayesfm.exceptions import NotFittedError
from bayesfm.models import FMRegressor
from bayesfm.priors import Priors

__version__ = "0.1.0"

__all__ = ["FMRegressor", "Priors", "NotFittedError", "__version__"]
