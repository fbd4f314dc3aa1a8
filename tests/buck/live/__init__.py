"""Tests for L{logship.buck.live}, the live tail; the harness is in C{common}."""
