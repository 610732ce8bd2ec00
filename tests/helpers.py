"""Small helpers shared by the test modules."""

import re


def assert_msg(excinfo, *patterns):
    """Every regex in ``patterns`` occurs in the exception message."""
    msg = str(excinfo.value)
    for pat in patterns:
        assert re.search(pat, msg), f"{pat!r} not found in message {msg!r}"


def comparable_params(est):
    """``get_params()`` with nested estimators replaced by (type, their params), so two
    estimators built alike (for example by ``sklearn.base.clone``) compare equal."""
    out = {}
    for name, value in est.get_params().items():
        if hasattr(value, "get_params") and not isinstance(value, type):
            value = (type(value), comparable_params(value))
        out[name] = value
    return out
