"""Tests of logship.archive on the real reactor."""
