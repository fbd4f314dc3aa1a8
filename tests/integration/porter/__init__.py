"""Tests of logship.porter on the real reactor."""
