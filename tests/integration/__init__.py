"""Integration tests: whatever runs on the real reactor, real sockets or real processes.

Real twistd processes on 127.0.0.1 (C{processes.py}, C{delivery.py}); services
in this process on the real reactor, by package (C{porter/}, C{archie/},
C{archive/}, C{buck/}, C{index/}); the page in a real browser (C{browser/}).
Every wait is L{tests.integration.waiting}'s polling with a deadline.  The
tests elsewhere under C{tests/} do not run the reactor: they drive a
L{twisted.internet.task.Clock} or a memory reactor (the command-line and
packaging tests run C{logship} or C{pip} as a subprocess).
"""
