"""Tests of logship.archie on the real reactor."""
