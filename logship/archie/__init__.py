"""The logship archie: web page and JSON API for live, recent and history."""
