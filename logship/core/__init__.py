"""
The pure core: events, parsing, tokens, buckets, packing, queries and rendering.

Nothing here imports Twisted or touches a reactor: every module is plain
functions and value types over bytes and files, used alike by the services,
the commands and the benchmarks.
"""
