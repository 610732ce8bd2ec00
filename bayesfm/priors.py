"""Prior constants of the Bayesian FM (a small, documented, immutable record).

The model (``docs/model.md``) on the *standardised* target (see ``FMRegressor``) and on the
columns of X divided by their scales (``bayesfm.data.scaling``: each column's largest |x|), so
the constants suit any units of y and of the columns::

    alpha              ~ Gamma(a0/2, b0/2)                      noise precision
    lambda_w[g]        ~ Gamma(a_lambda/2, b_lambda/2)          one per feature group g
    mu_w[g] | lambda   ~ Normal(mu0, 1/(c0 * lambda_w[g]))
    lambda_v[g, f]     ~ Gamma(a_lambda/2, b_lambda/2)          one per group and factor
    mu_v[g, f] | lambda ~ Normal(mu0, 1/(c0 * lambda_v[g, f]))
    w0                 ~ Normal(m0, 1/lambda0)
    w_j                ~ Normal(mu_w[g(j)], 1/lambda_w[g(j)])
    v_jf               ~ Normal(mu_v[g(j), f], 1/lambda_v[g(j), f])

Gammas use the shape/rate convention. The positive constants must lie in [1e-100, 1e100] and
mu0, m0, cut_loc within +-1e100 (beyond, the conditionals overflow). Mapping to the peers'
names::

    ============  ======================  =====================================
    bayesfm       libFM (``fm_learn_mcmc``)  myFM (``MyFMRegressor(...)``)
    ============  ======================  =====================================
    a0, a_lambda  ``alpha_0``             ``alpha_0``
    b0, b_lambda  ``gamma_0``             ``beta_0``
    c0            ``beta_0``              (none: myFM uses ``gamma_0`` as a fixed
                                          precision of mu, not scaled by lambda)
    mu0           ``mu_0``                ``mu_0``
    lambda0, m0   (flat prior on w0)      ``reg_0`` (= lambda0), m0 = 0
    ============  ======================  =====================================

libFM and myFM share the name ``beta_0`` for two different constants: in libFM it is the c0 that
scales the precision of mu; in myFM it is the Gamma rate (our b). Keep that in mind when copying
settings between them.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass

__all__ = ["Priors"]


#: the largest magnitude of a prior constant (and the inverse of the smallest positive one)
_LIMIT = 1e100


@dataclass(frozen=True)
class Priors:
    """Hyperprior constants; the defaults are libFM's (a = b = c0 = 1, mu0 = 0).

    Attributes
    ----------
    a0, b0 : float
        Shape and rate (times 2) of the Gamma prior on the noise precision alpha.
    a_lambda, b_lambda : float
        Shape and rate (times 2) of the Gamma prior on every group precision lambda.
    c0 : float
        Scale of the precision of mu given lambda: mu | lambda ~ Normal(mu0, 1/(c0 lambda)).
    mu0 : float
        Prior mean of every group mean mu.
    m0, lambda0 : float
        Mean and precision of the Normal prior on the global bias w0. The default precision
        0.01 (standard deviation 10 on the standardised target) is practically flat but proper.
    cut_loc, cut_scale : float
        Ordered probit only: each log gap between neighbouring cutpoints,
        log(c_{k+1} - c_k), has the prior Normal(cut_loc, cut_scale^2) (the first cutpoint is
        fixed at 0; the latent noise has variance 1). The default, Normal(0, 2^2), is weak: gaps
        from 0.02 to 50 are within two prior standard deviations.
    """

    a0: float = 1.0
    b0: float = 1.0
    a_lambda: float = 1.0
    b_lambda: float = 1.0
    c0: float = 1.0
    mu0: float = 0.0
    m0: float = 0.0
    lambda0: float = 0.01
    cut_loc: float = 0.0
    cut_scale: float = 2.0

    def __post_init__(self):
        for name in ("a0", "b0", "a_lambda", "b_lambda", "c0", "lambda0", "cut_scale", "mu0",
                     "m0", "cut_loc"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"Priors.{name} must be a real number, got "
                                f"{type(value).__name__} {value!r}")
            value = float(value)
            positive = name not in ("mu0", "m0", "cut_loc")
            if not math.isfinite(value) or (positive and value <= 0):
                kind = "finite positive" if positive else "finite"
                raise ValueError(f"Priors.{name} must be a {kind} number, got {value!r}")
            low = 1.0 / _LIMIT if positive else 0.0
            if abs(value) > _LIMIT or abs(value) < low:
                span = (f"[{low:g}, {_LIMIT:g}]" if positive else
                        f"[-{_LIMIT:g}, {_LIMIT:g}]")
                raise ValueError(f"Priors.{name} must be within {span} (beyond, the "
                                 f"conditionals overflow), got {value!r}")
            object.__setattr__(self, name, value)

    def as_dict(self) -> dict:
        """The constants as a plain dict."""
        return asdict(self)
