"""C{python -m logship}: the same as the C{logship} command."""

from logship.cli.main import main

main()
