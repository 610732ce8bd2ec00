"""Fetching MovieLens-100k into the cache (served from a local file:// URL: no network)."""

import os
import zipfile
from pathlib import Path

import pytest

from bayesfm.data import movielens


@pytest.fixture()
def source():
    root = os.environ.get(movielens.DATA_ENV)
    folder = Path(root) / "ml-100k" if root else None
    if folder is None or not (folder / "u.data").is_file():
        pytest.skip(f"MovieLens-100k is not available to build a local archive "
                    f"({movielens.DATA_ENV}={root!r})")
    return folder


def _archive(tmp_path, folder, corrupt=False):
    path = tmp_path / "ml-100k.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name in ("u.data", "u1.base", "u1.test", "u.user", "u.item"):
            data = (folder / name).read_bytes()
            if corrupt and name == "u.data":
                data = data.replace(b"\t5\t", b"\t4\t", 1)
            zf.writestr(f"ml-100k/{name}", data)
    return path.as_uri()


def test_fetch_checks_and_caches(tmp_path, source, monkeypatch):
    cache = tmp_path / "cache"
    url = _archive(tmp_path, source)
    got = movielens.fetch_movielens_100k(cache=cache, url=url)
    assert got == cache / "ml-100k" and (got / "u1.base").is_file()
    assert [p.name for p in cache.iterdir()] == ["ml-100k"]          # no temporary leftovers
    # found there by the loader through $BAYESFM_CACHE, without any other source
    monkeypatch.setenv(movielens.CACHE_ENV, str(cache))
    monkeypatch.delenv(movielens.DATA_ENV)
    assert movielens.load_movielens_100k(split="u1", side_info=False,
                                         implicit=False).X_train.shape[0] == 80000


def test_corrupt_download_is_discarded(tmp_path, source):
    cache = tmp_path / "cache"
    url = _archive(tmp_path, source, corrupt=True)
    with pytest.raises(ValueError, match="checksum mismatch"):
        movielens.fetch_movielens_100k(cache=cache, url=url)
    assert list(cache.iterdir()) == []


def test_unreachable_url_is_a_clear_file_not_found(tmp_path):
    missing = (tmp_path / "nowhere.zip").as_uri()
    with pytest.raises(FileNotFoundError, match="could not download"):
        movielens.fetch_movielens_100k(cache=tmp_path / "cache", url=missing)


def test_not_a_zip(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a valid zip"):
        movielens.fetch_movielens_100k(cache=tmp_path / "cache", url=bad.as_uri())
