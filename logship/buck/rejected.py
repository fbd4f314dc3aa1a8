"""L{Rejected}: a peer's message the buck refuses, and why.

The parts of the buck that handle messages (ingest, uploads, requests)
raise it; the buck's dispatcher (L{logship.buck.service.BuckService})
counts it and closes the peer's connection with its reason.
"""


class Rejected(Exception):
    """
    Close the peer's connection with this reason.
    """
