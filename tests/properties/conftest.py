"""Hypothesis settings of the property-based tests: derandomised (the same examples on every
run and machine: a failure is reproducible, and CI never turns red by chance), no example
database written into the checkout, no per-example deadline (the first example of a kind pays
for Numba's compilation). Examples per test: ``BAYESFM_PROPERTY_EXAMPLES`` (default 100, the
CI budget: the whole directory in well under two minutes on 2 cores)."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "bayesfm", derandomize=True, database=None, deadline=None, print_blob=True,
    max_examples=int(os.environ.get("BAYESFM_PROPERTY_EXAMPLES", "100")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile("bayesfm")
