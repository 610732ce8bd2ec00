import pytest

from bayesfm.datasets import load_movielens_100k


@pytest.fixture(scope="session")
def ml100k_u1():
    try:
        return load_movielens_100k(split="u1")
    except FileNotFoundError as exc:
        pytest.skip(f"MovieLens-100k is not available: {exc}")
