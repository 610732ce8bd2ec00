"""The progress bar of fits (``bayesfm.progress``): when ``progress=None`` shows it, and what a
shown bar counts and says."""

import io
from types import SimpleNamespace

import pytest

from bayesfm.progress import ProgressBar, interactive


class _Stream(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


@pytest.mark.parametrize("env, tty, shown", [
    ({}, True, True), ({}, False, False),
    ({"CI": "true"}, True, False), ({"CI": "0"}, True, True),
    ({"BAYESFM_PROGRESS": "0"}, True, False), ({"BAYESFM_PROGRESS": "1"}, False, True),
    ({"BAYESFM_PROGRESS": "yes", "CI": "1"}, False, True),
])
def test_interactive_guess_and_its_overrides(monkeypatch, env, tty, shown):
    for name in ("CI", "BAYESFM_PROGRESS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert interactive(_Stream(tty)) is shown


def test_a_stream_without_isatty_is_not_a_terminal(monkeypatch):
    monkeypatch.delenv("BAYESFM_PROGRESS", raising=False)
    monkeypatch.delenv("CI", raising=False)
    assert interactive(object()) is False


def _chain(done, rms):
    return SimpleNamespace(sweeps_done=done, store=SimpleNamespace(
        last_sweep=lambda name: rms))


def test_a_shown_bar_counts_the_slowest_chain_and_shows_the_rmse():
    pytest.importorskip("tqdm")
    stream = _Stream(False)
    bar = ProgressBar(100, 2, enabled=True, scale=2.0, stream=stream, start=10)
    bar.update([_chain(30, 0.5), _chain(25, 0.25)])
    assert bar.done == 15                                 # 25 - 10: the slowest chain
    bar.update([_chain(40, 0.5), _chain(40, None)])       # a chain without a sweep yet
    assert bar.done == 30
    bar.close(finished=True)                              # stopped early: shown complete
    text = stream.getvalue()
    assert "2 chains" in text and "train RMSE 1.0000" in text and "30/30" in text


def test_a_hidden_bar_does_nothing():
    bar = ProgressBar(10, 1, enabled=False)
    bar.update([_chain(5, 1.0)])
    bar.close()
    assert bar.done == 0 and not bar.enabled
