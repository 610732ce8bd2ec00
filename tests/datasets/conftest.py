import pytest

from bayesfm.datasets import load_movielens_100k


@pytest.fixture(scope="session")
def ml100k_u1():
    try:
        return load_movielens_100k(split="u1", side_info=False, implicit=False)
    except FileNotFoundError as exc:
        pytest.skip(f"MovieLens-100k is not available: {exc}")


@pytest.fixture(scope="session")
def a9a():
    """a9a (LIBSVM's UCI Adult): train and test matrices with 123 features, labels -1/+1."""
    import os
    from pathlib import Path

    from sklearn.datasets import load_svmlight_file

    root = os.environ.get("BAYESFM_DATA")
    folder = Path(root) / "a9a" if root else None
    if folder is None or not (folder / "a9a").is_file() or not (folder / "a9a.t").is_file():
        pytest.skip(f"a9a is not available (looked for $BAYESFM_DATA/a9a/a9a and a9a.t; "
                    f"BAYESFM_DATA={root!r})")
    Xtr, ytr = load_svmlight_file(str(folder / "a9a"), n_features=123)
    Xte, yte = load_svmlight_file(str(folder / "a9a.t"), n_features=123)
    return Xtr, ytr, Xte, yte
