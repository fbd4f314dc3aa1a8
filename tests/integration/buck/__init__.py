"""Tests of logship.buck on the real reactor."""
