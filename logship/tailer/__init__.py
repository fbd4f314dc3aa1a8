"""The logship tailer: tail log files and ship every event to R bucks."""
