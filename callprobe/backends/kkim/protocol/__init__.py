"""The KKIM wire protocol, pure and sans-I/O: no sockets, no asyncio.

Everything here turns bytes into values and values into bytes, and holds the
tables (identifiers, codes, call transitions) both the gateway and the client
consult. I/O layers own the sockets and every timer.
"""
