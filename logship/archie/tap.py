"""twistd entry point of C{logship-archie}.

Not implemented yet: the options parser says so instead of starting a service.
"""

from twisted.python import usage

from logship._notyet import not_implemented_options

Options: type[usage.Options] = not_implemented_options("logship-archie")


def makeService(config: usage.Options) -> None:
    """
    Never reached: L{Options} refuses to parse until the service exists.
    """
    raise NotImplementedError("logship-archie")
