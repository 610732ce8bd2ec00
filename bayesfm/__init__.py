"""bayesfm: Bayesian Factorization Machines fitted by Gibbs sampling (Numba kernels).

Public names: ``FMRegressor``, ``FMClassifier``, ``FMOrdinalRegressor``, ``Priors``,
``NewCategories`` (rows with categories the fit never saw), ``NotFittedError``, ``load``.
"""

from bayesfm import _numba_cache

_numba_cache.configure_package()    # the kernels' cache directory, chosen before any is defined

from bayesfm._version import __version__  # noqa: E402
from bayesfm.exceptions import NotFittedError  # noqa: E402
from bayesfm.models import FMClassifier, FMOrdinalRegressor, FMRegressor  # noqa: E402
from bayesfm.models._persist import load  # noqa: E402
from bayesfm.models._rows import NewCategories  # noqa: E402
from bayesfm.priors import Priors  # noqa: E402

__all__ = ["FMRegressor", "FMClassifier", "FMOrdinalRegressor", "Priors", "NewCategories",
           "NotFittedError", "load", "__version__"]
