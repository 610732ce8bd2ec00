"""Public dataset loaders (the data itself is never shipped; see ``bayesfm.data.movielens``)."""

from bayesfm.data.movielens import (
                                    RatingsData,
                                    RelationalRatings,
                                    fetch_movielens_100k,
                                    find_movielens_100k,
                                    load_movielens_100k,
)

__all__ = ["RatingsData", "RelationalRatings", "fetch_movielens_100k", "find_movielens_100k",
           "load_movielens_100k"]
