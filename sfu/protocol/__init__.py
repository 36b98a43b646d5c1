"""Sans-IO WebRTC transport building blocks.

Nothing in this package opens sockets, starts tasks or reads the clock. Every object takes
``now`` (seconds, any monotonic origin) as an argument and answers each input with an
:class:`~sfu.protocol.common.Output`: datagrams to send, events, and the next deadline.
See ``docs/transport.md`` for the run-loop contract (the drain rule).
"""
