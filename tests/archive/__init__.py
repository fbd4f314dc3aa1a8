"""Tests for L{logship.archive}: keys, URLs and both backends."""
