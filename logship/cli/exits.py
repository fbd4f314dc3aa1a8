"""The exit statuses of the C{logship} commands.

0 is success; a usage mistake (unknown option, missing file, bad time) is
2, as argparse's own; bad data or a store that failed is 1; a command
stopped by Ctrl-C that can be run again to resume is 130.
"""

#: Bad data (a corrupt record), or an index or archive that failed.
DATA_ERROR = 1

#: A usage mistake.
USAGE_ERROR = 2

#: Interrupted (SIGINT); the same command resumes.
INTERRUPTED = 130
