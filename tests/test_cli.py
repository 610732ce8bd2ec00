"""The ``bayesfm`` command end to end, in subprocesses, on small files."""

import csv
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

from bayesfm.data.libfm import write_libfm

ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))


def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "bayesfm.cli", *map(str, args)],
                          capture_output=True, text=True, env=ENV, timeout=timeout)


def _ratings(n, seed, n_users=30, n_items=20):
    rng = np.random.default_rng(seed)
    u, i = rng.integers(0, n_users, n), rng.integers(0, n_items, n)
    X = sp.csr_matrix((np.ones(2 * n), np.stack([u, n_users + i], 1).ravel(),
                       np.arange(0, 2 * n + 1, 2)), shape=(n, n_users + n_items))
    bu, bi = rng.normal(0, 0.5, n_users), rng.normal(0, 0.5, n_items)
    f = 3 + bu[u] + bi[i]
    return X, f + rng.normal(0, 0.5, n), u, i


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    X, y, _, _ = _ratings(750, 0)            # one model; the last 150 rows are the test set
    Xtr, ytr, Xte, yte = X[:600], y[:600], X[600:], y[600:]
    write_libfm(d / "train.libfm", Xtr, ytr)
    write_libfm(d / "test.libfm", Xte, yte)
    write_libfm(d / "train_bin.libfm", Xtr, (ytr > 3).astype(float))
    write_libfm(d / "test_bin.libfm", Xte, (yte > 3).astype(float))
    write_libfm(d / "train_ord.libfm", Xtr, np.clip(np.round(ytr), 1, 5))
    write_libfm(d / "test_ord.libfm", Xte, np.clip(np.round(yte), 1, 5))
    (d / "meta.txt").write_text("\n".join(["0"] * 30 + ["1"] * 20) + "\n")
    return d


FAST = ["--rank", "2", "--iter", "40", "--burn", "10", "--chains", "2", "--jobs", "1",
        "--no-progress"]


def _read_csv(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_fit_regression_then_predict_with_the_saved_model(files, tmp_path):
    out, model = tmp_path / "pred.csv", tmp_path / "model.bfm"
    r = run("fit", "--train", files / "train.libfm", "--test", files / "test.libfm",
            "--group-file", files / "meta.txt", "--out", out, "--save", model, *FAST)
    assert r.returncode == 0, r.stderr
    assert "test RMSE:" in r.stdout and "test coverage:" in r.stdout
    rows = _read_csv(out)
    assert len(rows) == 150 and list(rows[0]) == ["row", "prediction", "lower", "upper"]
    assert all(float(x["lower"]) < float(x["prediction"]) < float(x["upper"]) for x in rows)
    rmse = float(r.stdout.split("test RMSE:")[1].split()[0])
    assert rmse < 0.8            # noise sd 0.5; user/item effects sd 0.5 each
    out2 = tmp_path / "pred2.csv"
    r2 = run("predict", "--model", model, "--data", files / "test.libfm", "--out", out2)
    assert r2.returncode == 0, r2.stderr
    assert _read_csv(out2) == rows


def test_fit_classification_and_ordinal(files, tmp_path):
    out = tmp_path / "bin.csv"
    r = run("fit", "--task", "classification", "--train", files / "train_bin.libfm", "--test",
            files / "test_bin.libfm", "--out", out, *FAST)
    assert r.returncode == 0, r.stderr
    assert "test AUC:" in r.stdout and "test log-loss:" in r.stdout
    assert list(_read_csv(out)[0]) == ["row", "probability", "lower", "upper", "label"]
    out = tmp_path / "ord.csv"
    r = run("fit", "--task", "ordinal", "--train", files / "train_ord.libfm", "--test",
            files / "test_ord.libfm", "--out", out, *FAST)
    assert r.returncode == 0, r.stderr
    header = list(_read_csv(out)[0])
    assert header[:3] == ["row", "expected", "label"] and header[3].startswith("p_")


def test_csv_tables(tmp_path):
    _, y, u, i = _ratings(400, 2)
    table = tmp_path / "train.csv"
    with open(table, "w") as fh:
        fh.write("user,item,rating\n")
        for a, b, c in zip(u, i, y):
            fh.write(f"{a},{b},{c}\n")
    out = tmp_path / "pred.csv"
    r = run("fit", "--train", table, "--test", table, "--categorical", "user,item",
            "--out", out, *FAST)
    assert r.returncode == 0, r.stderr
    assert len(_read_csv(out)) == 400
    r = run("fit", "--train", table, "--target", "stars", *FAST)
    assert r.returncode == 1 and "stars" in r.stderr


def test_error_exit_codes(files, tmp_path):
    bad = tmp_path / "bad.libfm"
    bad.write_text("1 0:1 3:1\n2 0:1 x:1\n")
    r = run("fit", "--train", bad, *FAST)
    assert r.returncode == 1 and "line 2" in r.stderr and "Traceback" not in r.stderr
    r = run("fit", "--train", tmp_path / "missing.libfm", *FAST)
    assert r.returncode == 1 and "no such file" in r.stderr
    r = run("fit", "--train", files / "train.libfm", "--rank", "0")
    assert r.returncode == 2 and "--rank" in r.stderr
    r = run("fit")
    assert r.returncode == 2
    r = run("predict", "--model", files / "train.libfm", "--data", files / "test.libfm",
            "--out", tmp_path / "p.csv")
    assert r.returncode == 1 and "not a bayesfm model file" in r.stderr
    # a test file with a feature the model has never seen
    wide = tmp_path / "wide.libfm"
    wide.write_text("1 0:1 77:1\n")
    r = run("fit", "--train", files / "train.libfm", "--test", wide, *FAST)
    assert r.returncode == 1 and "first in data row 0" in r.stderr and "--group-file" in r.stderr
    # nothing half-written
    assert not (tmp_path / "p.csv").exists()


def test_demo_runs(tmp_path):
    env = {k: v for k, v in ENV.items() if k != "BAYESFM_DATA"}
    env["BAYESFM_CACHE"] = str(tmp_path / "empty-cache")
    r = subprocess.run([sys.executable, "-m", "bayesfm.cli", "demo"], capture_output=True,
                       text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "simulated ratings" in r.stdout and "test RMSE" in r.stdout


def test_console_script_is_installed():
    """`bayesfm` is installed next to the interpreter when the package is installed."""
    script = os.path.join(os.path.dirname(sys.executable), "bayesfm")
    if not os.path.exists(script):
        pytest.skip("bayesfm is not installed as a package in this environment")
    r = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "fit" in r.stdout and "predict" in r.stdout


def test_a_csv_with_new_users_predicts_them_from_the_prior(tmp_path):
    """A user the fit never saw, in a CSV given to predict: a prediction and an interval wider
    than a known user's for the same item (the new user is a draw from the users' prior), the
    same in two runs (seed 0)."""
    _, y, u, i = _ratings(400, 2)
    table, model = tmp_path / "train.csv", tmp_path / "m.bfm"
    with open(table, "w") as fh:
        fh.write("user,item,rating\n")
        for a, b, c in zip(u, i, y):
            fh.write(f"{a},{b},{c}\n")
    r = run("fit", "--train", table, "--categorical", "user,item", "--save", model, *FAST)
    assert r.returncode == 0, r.stderr
    rows = tmp_path / "rows.csv"
    rows.write_text(f"user,item\n{u[0]},{i[0]}\n99999,{i[0]}\n")
    out, again = tmp_path / "p.csv", tmp_path / "p2.csv"
    for dest in (out, again):
        r = run("predict", "--model", model, "--data", rows, "--out", dest)
        assert r.returncode == 0, r.stderr
    known, new = _read_csv(out)
    width = [float(p["upper"]) - float(p["lower"]) for p in (known, new)]
    assert width[1] > width[0]
    assert _read_csv(again) == [known, new]


def test_a_libfm_file_with_new_features_needs_their_groups(files, tmp_path):
    """Feature indices beyond the model's are new categories, with their groups from
    --group-file (a meta file for every feature); without it, exit 1 naming --group-file."""
    model = tmp_path / "m.bfm"
    r = run("fit", "--train", files / "train.libfm", "--group-file", files / "meta.txt",
            "--save", model, *FAST)
    assert r.returncode == 0, r.stderr
    rows = tmp_path / "new.libfm"
    rows.write_text("0 0:1 30:1\n0 50:1 30:1\n")             # user 0; a new user (index 50)
    out = tmp_path / "p.csv"
    r = run("predict", "--model", model, "--data", rows, "--out", out)
    assert r.returncode == 1 and "--group-file" in r.stderr and "new categories" in r.stderr
    meta = tmp_path / "meta51.txt"
    meta.write_text("\n".join(["0"] * 30 + ["1"] * 20 + ["0"]) + "\n")
    r = run("predict", "--model", model, "--data", rows, "--out", out, "--group-file", meta)
    assert r.returncode == 0, r.stderr
    known, new = _read_csv(out)
    assert (float(new["upper"]) - float(new["lower"])
            > float(known["upper"]) - float(known["lower"]))
    r = run("predict", "--model", model, "--data", files / "test.libfm", "--out", out)
    assert r.returncode == 0, r.stderr                         # known features: as before


@pytest.mark.parametrize("extra, message", [
    (["--save", "{d}/missing/m.bfm"], "argument --save: directory .*missing does not exist"),
    (["--test", "{d}/test.libfm", "--out", "{d}/nowhere/p.csv"],
     "argument --out: directory .*nowhere does not exist"),
    (["--save", "{d}"], "argument --save: .* is a directory, not a file"),
    (["--out", "{d}/p.csv"], "--out needs --test"),
    (["--seed", "-1"], "argument --seed: expected an integer >= 0, got '-1'"),
    (["--burn", "-3"], "argument --burn: expected an integer >= 0"),
    (["--jobs", "0"], "argument --jobs: expected a positive number of processes"),
    (["--jobs", "two"], "argument --jobs: expected a non-zero integer, got 'two'"),
])
def test_bad_output_paths_and_arguments_stop_before_the_fit(files, extra, message):
    """Exit status 2 (bad arguments), one line naming the argument, no traceback, and no
    fit first (the training file is never read: it does not exist here)."""
    args = [a.format(d=files) for a in extra]
    out = run("fit", "--train", files / "no-such-train.libfm", *FAST, *args, timeout=60)
    assert out.returncode == 2, out.stderr
    assert re.search(message, out.stderr), out.stderr
    assert "Traceback" not in out.stderr
