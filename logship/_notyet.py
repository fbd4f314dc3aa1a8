"""Options for twistd plugins whose service is not built yet."""

from twisted.python import usage


def not_implemented_options(name: str) -> type[usage.Options]:
    """
    Make a C{usage.Options} class that refuses every command line with a
    clear one-line error, so C{twistd NAME} fails cleanly until NAME exists.

    @param name: the plugin name, for the message.
    @return: the Options class.
    """

    class Options(usage.Options):
        synopsis = f"{name} (not implemented yet)"

        def postOptions(self) -> None:
            raise usage.UsageError(f"{name} is not implemented yet")

    return Options
