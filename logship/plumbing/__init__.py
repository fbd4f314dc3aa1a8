"""
Twisted plumbing shared by the services and commands.

Settings from TOML and the command line, tap option sets, announced listeners,
periodic jobs, JSON API helpers, and running a coroutine on the reactor.  These
modules may use Twisted; none of them holds a service's own logic.
"""
