"""Tests of logship.index on the real reactor."""
