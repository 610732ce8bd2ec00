"""The estimators, all on one shared base (``bayesfm.models.base.BaseFM``)."""

from bayesfm.models.regressor import FMRegressor

__all__ = ["FMRegressor"]
