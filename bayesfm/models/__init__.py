"""The estimators, all on one shared base (``bayesfm.models.base.BaseFM``)."""

from bayesfm.models.classifier import FMClassifier
from bayesfm.models.ordinal import FMOrdinalRegressor
from bayesfm.models.regressor import FMRegressor

__all__ = ["FMRegressor", "FMClassifier", "FMOrdinalRegressor"]
