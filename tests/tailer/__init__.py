"""Tests for L{logship.tailer}."""
