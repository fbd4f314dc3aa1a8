"""The buck's live tail: an Autobahn WebSocket per client, fed by the buck's pub/sub channel.

C{protocol} (the steps, and the thin L{LiveProtocol}), C{factory} (the
server: admission, clients, stats), C{stream} (one client's rate-limited
push producer), C{filter} (client messages; pure), C{messages} (what the
buck sends; pure), C{endpoint} (the C{--live} shorthand).
C{docs/live.md} is the reference.
"""
