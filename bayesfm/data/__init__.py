"""Data in: checking and converting design matrices, targets and groups; datasets."""
