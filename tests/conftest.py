"""Settings for the whole test suite."""

from hypothesis import settings

# No per-example deadline: this 2-core machine is shared and its speed
# swings by 2x, which made timing-based failures that said nothing about
# the code.  Speed is measured in bench/, never asserted in tests.
settings.register_profile("logship", deadline=None)
settings.load_profile("logship")
