"""The logship buck: receive, acknowledge and store time-bucketed events."""
