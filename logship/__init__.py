"""logship: a reliable, efficient way to collect, store and use event logs."""

__version__ = "0.1.0"
