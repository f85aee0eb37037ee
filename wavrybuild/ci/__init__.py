"""The CI feature: fan a release out over a build matrix and merge it back.

matrix.py (`invoke plan`: one job per target), parts.py (the strict reader of other machines'
parts), merge.py (MergeStage and the part manifest `release --part` writes), storage.py (parts in
S3-compatible storage, keyed by commit)."""
