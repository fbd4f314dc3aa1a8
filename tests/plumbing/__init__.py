"""Tests for L{logship.plumbing}."""
