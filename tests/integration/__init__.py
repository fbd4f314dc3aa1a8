"""Integration tests: real twistd processes on 127.0.0.1 (see C{processes.py})."""
