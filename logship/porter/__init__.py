"""The logship porter: merge buckets into the recent index and the archive."""
