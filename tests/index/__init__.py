"""Tests of the index backends and their shared pieces."""
