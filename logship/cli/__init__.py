"""
The C{logship} command and its subcommands (import, search, history, demo ...).

C{main} parses the command line; the longer subcommands have modules of their
own.  Only this package writes to the terminal.
"""
