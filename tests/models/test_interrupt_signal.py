"""A real Ctrl-C (SIGINT to the whole process group, as a terminal sends it) during a fit with
worker processes: the fit returns with the draws made so far and says how many it holds.

The fitting script starts as a terminal's Python does, with Python's KeyboardInterrupt handler.
It sets that handler itself, because it inherits its SIGINT disposition from pytest: a suite
started in the background by a non-interactive shell (``nohup bash -c 'make test' &``) runs
with SIGINT ignored, Python then keeps it ignored, and the Ctrl-C would never reach the fit
(``test_child_starts_with_the_terminal_handler`` checks exactly that case).
"""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

SCRIPT = r"""
import signal
signal.signal(signal.SIGINT, signal.default_int_handler)   # as in a terminal (module docstring)
import faulthandler
faulthandler.register(signal.SIGUSR1, all_threads=True)    # stacks on demand (_finish)
import sys, warnings
import numpy as np
from bayesfm import FMRegressor
rng = np.random.default_rng(0)
X = rng.normal(size=(3000, 20)); y = X @ rng.normal(size=20) + rng.normal(size=3000)
model = FMRegressor(rank=4, n_iter=20000, n_burn=10, n_chains=2, n_jobs=2, progress=True,
                    random_state=0)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    model.fit(X, y)
print("WARN", [str(w.message) for w in caught])
print("STATE", model.interrupted_, model.sweeps_per_chain_, model.draws_per_chain_,
      model.predict(X[:5]).shape)
model.sample_more(20)
print("MORE", model.sweeps_per_chain_, model.interrupted_)
"""


def _press_ctrl_c_after_progress(proc):
    """Wait until every chain finished a chunk past burn-in (the bar shows sweeps done), then
    send SIGINT to the whole process group, as a terminal's Ctrl-C does."""
    deadline = time.time() + 120
    seen = ""
    while time.time() < deadline and not re.search(r"\| *[1-9]\d*/20000 \[", seen):
        seen += os.read(proc.stderr.fileno(), 4096).decode()
    os.killpg(proc.pid, signal.SIGINT)


def _finish(proc, timeout=120):
    """(stdout, stderr) of the script; if it has not ended within ``timeout`` seconds, the
    test fails with the Python stacks of every process of its group (the script and its
    workers, which inherit its SIGUSR1 handler), to show where it waits."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGUSR1)
        time.sleep(3)
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"the script did not end within {timeout} s after Ctrl-C; its stacks:\n"
                    f"{err[-8000:]}\n--- stdout:\n{out[-2000:]}")


@pytest.mark.skipif(sys.platform == "win32", reason="process groups and SIGINT are POSIX")
def test_sigint_keeps_draws(tmp_path):
    script = tmp_path / "fit.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    _press_ctrl_c_after_progress(proc)
    out, err = _finish(proc)
    assert proc.returncode == 0, err[-2000:]
    lines = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    assert "interrupted after" in lines["WARN"] and "draws per chain" in lines["WARN"]
    interrupted, sweeps, draws, shape = lines["STATE"].split(" ", 3)
    assert interrupted == "True" and int(sweeps) > 10 and int(draws) == int(sweeps) - 10
    more_sweeps, more_flag = lines["MORE"].split()
    assert int(more_sweeps) == int(sweeps) + 20 and more_flag == "False"


@pytest.mark.skipif(sys.platform == "win32", reason="process groups and SIGINT are POSIX")
def test_sigint_in_process(tmp_path):
    """n_jobs=1: the interrupt is taken at the end of the running chunk, never mid-merge."""
    script = tmp_path / "fit.py"
    script.write_text(SCRIPT.replace("n_jobs=2", "n_jobs=1"))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    _press_ctrl_c_after_progress(proc)
    out, err = _finish(proc)
    assert proc.returncode == 0, err[-2000:]
    assert "STATE True" in out and "MORE" in out


@pytest.mark.skipif(sys.platform == "win32", reason="process groups and SIGINT are POSIX")
def test_child_starts_with_the_terminal_handler(tmp_path):
    """Even when this test process ignores SIGINT (a background run), the fitting script takes
    Ctrl-C: the script's first lines install Python's handler."""
    probe = tmp_path / "probe.py"
    probe.write_text(SCRIPT.split("import sys, warnings")[0]
                     + "print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)\n")
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        out = subprocess.run([sys.executable, str(probe)], capture_output=True, text=True,
                             timeout=60, check=True).stdout
    finally:
        signal.signal(signal.SIGINT, previous)
    assert out.strip() == "True"
