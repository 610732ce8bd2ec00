"""Small helpers shared by the test modules."""

import re


def assert_msg(excinfo, *patterns):
    """Every regex in ``patterns`` occurs in the exception message."""
    msg = str(excinfo.value)
    for pat in patterns:
        assert re.search(pat, msg), f"{pat!r} not found in message {msg!r}"
