"""The browser page in headless Chromium against a real cluster (see C{conftest.py})."""
