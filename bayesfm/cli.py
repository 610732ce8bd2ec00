"""The ``bayesfm`` command: fit on files, predict with a saved model, run the demo.

    bayesfm fit --train TRAIN --test TEST [--task regression|classification|ordinal]
                [--rank 8] [--iter N|auto] [--burn N] [--chains 4] [--jobs N] [--seed S]
                [--group-file META] [--target COLUMN] [--categorical COLS] [--level 0.9]
                --out PRED.csv [--save MODEL]
    bayesfm predict --model MODEL --data FILE --out PRED.csv [--level 0.9] [--group-file META]
    bayesfm demo

Data files are libFM / svmlight text (``label idx:val ...``; 0-based indices, or ``--one-based``)
or CSV tables with a header (``.csv``, or ``--format csv``), whose ``--target`` column is the
label and whose other columns are encoded by ``bayesfm.data.encoders.TableEncoder``
(``--categorical user,item`` one-hot encodes integer id columns).

Categories the fit never saw (a new user, a new item) are predicted as draws from their group's
prior (``bayesfm.NewCategories``, seed ``--seed`` or 0): in a CSV, values unseen at fit; in a
libFM file, feature indices beyond the model's, whose groups come from ``--group-file`` (a libFM
meta file with a line for every feature, the fitted ones and the new ones).

Output CSV, one line per row of the test/data file (written atomically):
* regression: ``prediction`` (posterior mean), ``lower``, ``upper`` (predictive interval);
* classification: ``probability`` (of the second class), ``lower``, ``upper`` (credible interval
  of that probability), ``label`` (the more probable class);
* ordinal: ``expected`` (expected label, numeric labels only), ``label`` (most probable class),
  then ``p_<class>`` for every class.

Exit status: 0 on success, 1 for bad input (unreadable or malformed files, mismatched columns;
the message names the file and line), 2 for bad command-line arguments (checked before any work:
an output file's directory must exist and be writable, --out of ``fit`` needs --test, --seed and
--burn are >= 0).
"""

from __future__ import annotations

import argparse
import io
import sys

import numpy as np

__all__ = ["main"]

TASKS = ("regression", "classification", "ordinal")


class InputError(Exception):
    """A problem with the user's files or arguments: reported in one line, exit status 1."""


def _int_type(wanted: str, ok, refused: str | None = None):
    """An argparse type: an integer for which ``ok(value)`` holds; otherwise "expected
    <wanted>" (or <refused> for an integer out of range), naming the text given."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"expected {refused or wanted}, got {text!r}")
        return value
    return parse


_positive_int = _int_type("a positive integer", lambda v: v >= 1)
_nonneg_int = _int_type("an integer >= 0", lambda v: v >= 0)
#: --jobs as ``n_jobs`` takes it: a positive number of processes, or negative (all CPUs but
#: |n| - 1); 0 means nothing
_jobs = _int_type("a non-zero integer", lambda v: v != 0,
                  "a positive number of processes, or a negative one (all CPUs but |n| - 1)")


def _iterations(text):
    return "auto" if text == "auto" else _positive_int(text)


def _check_outputs(parser, args) -> None:
    """Before any work: every output file's directory exists and is writable, and --out comes
    with --test (a fit must not run for an hour and then fail to write)."""
    import os

    if args.command == "fit" and args.out and not args.test:
        parser.error("--out needs --test (the rows to predict)")
    for option in ("save", "out"):
        path = getattr(args, option, None)
        if not path:
            continue
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            parser.error(f"argument --{option}: directory {folder} does not exist")
        if os.path.isdir(path):
            parser.error(f"argument --{option}: {path} is a directory, not a file")
        if not os.access(folder, os.W_OK):
            parser.error(f"argument --{option}: cannot write in {folder}")


def _level(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}")
    return value


def _parser():
    parser = argparse.ArgumentParser(
        prog="bayesfm", description="Bayesian Factorization Machines fitted by Gibbs sampling.")
    sub = parser.add_subparsers(dest="command", required=True)

    fit = sub.add_parser("fit", help="fit on a training file, predict a test file")
    fit.add_argument("--train", required=True, help="training data (libFM/svmlight or CSV)")
    fit.add_argument("--test", help="test data, predicted and scored when given")
    fit.add_argument("--task", choices=TASKS, default="regression")
    fit.add_argument("--rank", type=_positive_int, default=8)
    fit.add_argument("--iter", type=_iterations, default=300, dest="n_iter",
                     help="Gibbs sweeps per chain, or 'auto' (until the diagnostics pass)")
    fit.add_argument("--burn", type=_nonneg_int, default=None,
                     help="burn-in sweeps (default: a third of --iter, 100 with auto)")
    fit.add_argument("--chains", type=_positive_int, default=4)
    fit.add_argument("--jobs", type=_jobs, default=None,
                     help="worker processes (default: CPUs; -1 all CPUs, -2 all but one)")
    fit.add_argument("--seed", type=_nonneg_int, default=0)
    fit.add_argument("--group-file", help="libFM meta file: the group of each feature")
    fit.add_argument("--format", choices=("auto", "libfm", "csv"), default="auto")
    fit.add_argument("--one-based", action="store_true",
                     help="feature indices start at 1 (LIBSVM files such as a9a)")
    fit.add_argument("--target", default="rating", help="label column of CSV tables")
    fit.add_argument("--categorical", default="",
                     help="comma-separated CSV columns to one-hot encode even if numeric")
    fit.add_argument("--level", type=_level, default=0.9, help="interval level")
    fit.add_argument("--out", help="predictions for the test file (CSV)")
    fit.add_argument("--save", help="save the fitted model here (bayesfm's model format; "
                                    "bayesfm predict --model reads it)")
    fit.add_argument("--no-progress", action="store_true")

    pred = sub.add_parser("predict", help="predict a file with a saved model")
    pred.add_argument("--model", required=True)
    pred.add_argument("--data", required=True)
    pred.add_argument("--out", required=True)
    pred.add_argument("--format", choices=("auto", "libfm", "csv"), default="auto")
    pred.add_argument("--one-based", action="store_true")
    pred.add_argument("--target", default="rating")
    pred.add_argument("--level", type=_level, default=0.9)
    pred.add_argument("--group-file", help="libFM meta file: the group of every feature, those "
                                           "beyond the model's (new categories) included")
    pred.add_argument("--seed", type=_nonneg_int, default=0,
                      help="seed of the new categories' draws")

    demo = sub.add_parser("demo",
                          help="a small end-to-end fit (MovieLens-100k if found, else simulated)")
    demo.add_argument("--download", action="store_true",
                      help="fetch MovieLens-100k into the cache when it is not found")
    return parser


# -- reading ---------------------------------------------------------------------------------
def _is_csv(path, fmt):
    return fmt == "csv" or (fmt == "auto" and str(path).lower().endswith(".csv"))


def _read(path, fmt, one_based, target, n_features=None, group_file=None, need_target=True):
    """(X or DataFrame, y or None, groups or None)."""
    try:
        if _is_csv(path, fmt):
            import pandas as pd

            df = pd.read_csv(path)
            if target in df.columns:
                y = df[target].to_numpy()
                df = df.drop(columns=[target])
            elif need_target:
                raise InputError(f"{path}: no column {target!r} (the label; set --target); "
                                 f"columns: {list(df.columns)}")
            else:
                y = None
            return df, y, None
        from bayesfm.data.libfm import read_libfm

        data = read_libfm(path, n_features=n_features, group_file=group_file,
                          zero_based=not one_based)
        return data.X, data.y, data.groups
    except FileNotFoundError as exc:
        raise InputError(f"{exc.filename or path}: no such file") from None
    except (ValueError, OSError) as exc:
        raise InputError(str(exc)) from None


def _estimator(args):
    from bayesfm import FMClassifier, FMOrdinalRegressor, FMRegressor
    from bayesfm.data.encoders import TableEncoder

    cls = {"regression": FMRegressor, "classification": FMClassifier,
           "ordinal": FMOrdinalRegressor}[args.task]
    if args.burn is None:
        n_burn = 100 if args.n_iter == "auto" else max(1, args.n_iter // 3)
    else:
        n_burn = args.burn
    categorical = [c for c in args.categorical.split(",") if c]
    return cls(rank=args.rank, n_iter=args.n_iter, n_burn=n_burn, n_chains=args.chains,
               n_jobs=args.jobs, random_state=args.seed,
               progress=False if args.no_progress else None,
               encoder=TableEncoder(categorical=categorical or None))


# -- predictions and metrics -----------------------------------------------------------------
def _predictions(model, X, level):
    """(columns dict in output order, point prediction used for metrics): the model's
    observation model says which (``bayesfm.models.observation``)."""
    return model.observation_.prediction_columns(model, X, level)


def _metrics(model, point, cols, y):
    return model.observation_.metrics(model, point, cols, y)


def _write_csv(path, cols):
    from bayesfm.atomic import atomic_write

    names = list(cols)
    n = len(next(iter(cols.values())))
    buf = io.StringIO()
    buf.write("row," + ",".join(names) + "\n")
    formatted = []
    for name in names:
        arr = np.asarray(cols[name])
        if arr.dtype.kind == "f":
            formatted.append([repr(float(v)) for v in arr])
        else:
            formatted.append([str(v) for v in arr])
    for i in range(n):
        buf.write(str(i) + "," + ",".join(col[i] for col in formatted) + "\n")
    data = buf.getvalue().encode()
    try:
        atomic_write(path, lambda fh: fh.write(data))
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror})") from None


# -- commands --------------------------------------------------------------------------------
def _cmd_fit(args, out):
    Xtr, ytr, groups = _read(args.train, args.format, args.one_based, args.target,
                             group_file=args.group_file)
    model = _estimator(args)
    try:
        model.fit(Xtr, ytr, groups=groups)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{args.train}: {exc}") from None
    print(f"fitted {type(model).__name__}: rank {args.rank}, {model.n_chains_} chains x "
          f"{model.draws_per_chain_} draws ({model.sweeps_per_chain_} sweeps per chain)",
          file=out)
    if getattr(model, "interrupted_", False):
        print("interrupted: predictions use the draws made so far", file=out)
    if args.save:
        try:
            model.save(args.save)
        except OSError as exc:
            raise InputError(f"{args.save}: cannot save the model "
                             f"({exc.strerror or exc})") from None
        print(f"model saved to {args.save}", file=out)
    if args.test:
        Xte, yte = _rows(model, args.test, args, need_target=True)
        cols, point = _run_predict(model, Xte, args.level, args.test)
        for name, value in _metrics(model, point, cols, yte).items():
            print(f"test {name}: {value:.4f}", file=out)
        if args.out:
            _write_csv(args.out, cols)
            print(f"predictions written to {args.out}", file=out)
    return 0


def _rows(model, path, args, need_target):
    """(rows to predict, y or None) of a data file for ``model``: a CSV's categories unseen at
    fit, and a libFM file's features beyond the model's (their groups from ``--group-file``),
    are new categories drawn with seed ``--seed``."""
    from bayesfm import NewCategories

    if _is_csv(path, args.format):
        X, y, _ = _read(path, args.format, args.one_based, args.target, need_target=need_target)
        return NewCategories(X, random_state=args.seed), y
    p = model.n_features_in_
    group_file = args.group_file
    X, y, groups = _read(path, args.format, args.one_based, args.target, group_file=group_file,
                         need_target=need_target)
    if X.shape[1] <= p:
        import scipy.sparse as sp

        return sp.hstack([X, sp.csr_matrix((X.shape[0], p - X.shape[1]))], format="csr"), y
    if groups is None:
        first = int(np.flatnonzero(np.diff(X[:, p:].tocsr().indptr))[0])
        raise InputError(f"{path}: feature indices up to {X.shape[1] - 1} (first in data row "
                         f"{first}, 0-based), but the model has {p} features; the features "
                         f"beyond are new categories: give the group of every feature with "
                         f"--group-file (a libFM meta file of {X.shape[1]} lines)")
    return NewCategories(X, [g.item() for g in groups[p:]], random_state=args.seed), y


def _run_predict(model, X, level, path):
    try:
        return _predictions(model, X, level)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{path}: {exc}") from None


def _cmd_predict(args, out):
    from bayesfm import load

    try:
        model = load(args.model)
    except FileNotFoundError:
        raise InputError(f"{args.model}: no such file") from None
    except ValueError as exc:  # not a model file, damaged, a pickle: the message names the file
        raise InputError(str(exc)) from None
    except Exception as exc:  # anything else unreadable: one clear line
        raise InputError(f"{args.model}: not a saved bayesfm model ({exc})") from None
    X, _ = _rows(model, args.data, args, need_target=False)
    cols, point = _run_predict(model, X, args.level, args.data)
    _write_csv(args.out, cols)
    print(f"predictions for {len(point if point is not None else cols['label'])} rows written "
          f"to {args.out}", file=out)
    return 0


def main(argv=None) -> int:
    """Entry point of the ``bayesfm`` console script; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    _check_outputs(parser, args)
    try:
        if args.command == "fit":
            return _cmd_fit(args, sys.stdout)
        if args.command == "predict":
            return _cmd_predict(args, sys.stdout)
        from bayesfm.demo import main as demo

        return demo(download=args.download)
    except InputError as exc:
        print(f"bayesfm: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
