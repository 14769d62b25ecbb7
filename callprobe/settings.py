"""Every timeout, interval and limit, with its default, in one place.

Each field is a *named deadline*: errors that report a wait running out name
the field (``DeadlineExceeded.setting``), so a user knows what to raise.
``None`` disables a wait only where a field's comment says so. Tests shrink
these values; nothing patches ``sleep``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GatewaySettings:
    """The embedded reference gateway (docs/backends/kkim.md#where-servers-differ)."""

    host: str = "127.0.0.1"
    ws_port: int = 10001
    api_port: int = 10002
    db_path: str | None = None              # None: SQLite in memory
    secret: str = "openIM123"
    admin_users: tuple[str, ...] = ("imAdmin",)
    auto_register: bool = True
    read_deadline_s: float = 30.0           # pongWait: any frame re-arms it (docs/backends/kkim.md#heartbeat)
    web_ping_interval_s: float = 27.0       # server pings for platform 5 only (docs/backends/kkim.md#heartbeat)
    write_timeout_s: float = 10.0           # writeWait
    max_message_size: int = 51200           # read limit per message (docs/backends/kkim.md#frame-size)
    max_content_bytes: int = 51200          # MsgData.content over this is 1102 (docs/backends/kkim.md#error-codes)
    close_timeout_s: float = 2.0            # wait for the client's close frame
    invite_timeout_default_s: int = 60      # InvitationInfo.timeout when 0 (docs/backends/kkim.md#ring-timeout)
    invite_timeout_override_s: float | None = None  # shorten every call's ring time (tests)
    token_expire_s: int = 90 * 24 * 3600    # tokenPolicy.expire 90 days
    shutdown_timeout_s: float = 5.0
    faults: tuple[tuple[str, str], ...] = ()  # (name, value) pairs, see gateway.faults
    # Limits and floods (docs/backends/kkim.md#limits). max_message_size also caps a
    # gzip frame after inflation: over it, close 1009.
    #: WebSocket connections (open or handshaking); the next handshake gets 1601 ConnOverMaxNumLimit; None: no limit
    max_connections: int | None = 10_000
    handshake_timeout_s: float = 10.0       # a WebSocket opening handshake not done in this time is dropped
    #: data frames per second one connection may keep up, after frame_burst; over it: close 1008; None: no limit
    max_frames_per_s: float | None = 100.0
    #: data frames one connection may send back to back before max_frames_per_s applies
    frame_burst: int = 200
    #: ranges (1002), conversations (1005), conversationIDs (1006, 1007), invitees (1004) or user IDs (2005) in one
    #: request; over it: close 1008
    max_request_items: int = 100
    #: messages one 1002 range or 1005 conversation returns; the rest is left out and isEnd is false
    max_pull_per_range: int = 100
    #: protobuf bytes of one 1002, 1005 or 1007 reply; messages past it are left out (isEnd false); one message always
    #: fits
    max_reply_bytes: int = 1024 * 1024
    max_subscriptions: int = 1000           # users one connection may watch with 2005; over it: close 1008
    #: auth API connections; at the limit the longest-idle one is closed to make room, or else the new one gets 503;
    #: None: no limit
    api_max_connections: int | None = 256
    #: a request line and headers must arrive within this time of the connection opening, or of a kept-alive request's
    #: first byte
    api_header_timeout_s: float = 10.0
    #: a request body must arrive within this time of its headers; else 1001 and close
    api_body_timeout_s: float = 10.0
    #: a kept-alive connection with no request in progress is closed after this long
    api_idle_timeout_s: float = 30.0
    api_max_body_bytes: int = 1024 * 1024   # a request body over this size is refused with 1001
    #: running out of file descriptors (connections shed) is logged at most once per interval
    fd_log_interval_s: float = 10.0
    #: connections each port lets wait to be accepted; beyond it the kernel drops new ones and clients
    #: retry a second later (a load run raises it: docs/load.md#workers-and-the-controller)
    listen_backlog: int = 100


@dataclass(frozen=True)
class ChatServerSettings:
    """The embedded Socket.IO chat backend (``docs/backends/socketio.md``)."""

    host: str = "127.0.0.1"
    port: int = 8000                        # 0 picks a free port
    db_path: str | None = None              # None: SQLite in memory
    secret: str = "callprobe-chat-secret"   # signs the HS256 access tokens
    token_expire_s: int = 24 * 3600
    ping_interval_s: float = 30.0           # Engine.IO pingInterval
    ping_timeout_s: float = 60.0            # Engine.IO pingTimeout
    ring_timeout_s: float = 60.0            # a pending call not answered in this time becomes missed
    shutdown_timeout_s: float = 5.0
    faults: tuple[tuple[str, str], ...] = ()  # (name, value) pairs, see backends/socketio/faults.py
    connect_timeout_s: float = 10.0         # an Engine.IO socket with no Socket.IO connect in this time is closed
    max_connections: int = 500              # open Engine.IO sockets; a new handshake beyond it gets HTTP 503
    max_packet_bytes: int = 64 * 1024       # Engine.IO maxPayload: a larger frame or polling body closes the socket
    max_body_bytes: int = 16 * 1024         # a REST request body over this is refused with HTTP 413
    max_json_depth: int = 16                # nesting of lists and objects in a REST body or an event payload
    event_rate_per_s: float = 20.0          # Socket.IO packets one socket may send per second, sustained
    event_burst: int = 40                   # packets one socket may send at once before the rate applies
    flood_disconnect_after: int = 100       # packets refused in a row for the rate before the socket is dropped
    max_message_chars: int = 4000           # send_message text
    max_username_chars: int = 50            # register: longer usernames are refused with 422
    max_password_chars: int = 128           # register and login: longer passwords are refused with 422
    history_max_limit: int = 100            # largest ?limit= of the history API
    password_iterations: int = 100_000      # PBKDF2-SHA256 rounds per password hash (tests lower it)


@dataclass(frozen=True)
class RoomServerSettings:
    """The embedded call-room service (``docs/backends/rooms.md``)."""

    host: str = "127.0.0.1"
    port: int = 8080                        # 0 picks a free port
    db_path: str | None = None              # None: SQLite in memory
    secret: str = "callprobe-rooms-secret"  # signs the HS256 tokens
    token_expire_s: int = 24 * 3600
    ring_timeout_s: float = 60.0            # an initiated call not accepted in this time becomes missed
    shutdown_timeout_s: float = 5.0
    faults: tuple[tuple[str, str], ...] = ()  # (name, value) pairs, see backends/rooms/faults.py
    password_iterations: int = 100_000      # PBKDF2-HMAC-SHA256 rounds per stored password (tests shrink it)
    username_chars: tuple[int, int] = (3, 50)   # shortest and longest username accepted by register
    password_chars: tuple[int, int] = (6, 128)  # shortest and longest password accepted by register
    max_body_bytes: int = 16 * 1024         # a REST request body over this is refused 413
    body_timeout_s: float = 10.0            # a REST body not fully received in this time is refused 408
    body_linger_s: float = 2.0              # after a refusal that left a body unread, read and discard it
                                            # this long so the client sees the reply, then close
    keepalive_timeout_s: float = 15.0       # an HTTP connection idle this long, or still sending its first
                                            # request head, is closed (aiohttp keepalive_timeout)
    max_connections: int = 512              # open TCP connections (REST and room sockets); over it: 503, closed
    max_json_depth: int = 32                # nesting of JSON arrays/objects in a body or a room message
    max_frame_bytes: int = 64 * 1024        # one room message; over it the socket is closed 1009
    frame_rate_per_s: float = 50.0          # room messages one socket may send per second, sustained, and
    frame_burst: int = 200                  # in a burst; over either the socket is closed 1008
    outbox_bytes: int = 1024 * 1024         # queued for a socket that does not read; over it closed 1008
    ws_heartbeat_s: float | None = 30.0     # ping a room socket this often, close it without a pong in half
                                            # the time; None: no pings
    ws_write_timeout_s: float = 10.0        # one frame to a room socket not written in this time: dropped
    ws_close_timeout_s: float = 2.0         # after sending a close frame, wait this long for the client's


@dataclass(frozen=True)
class ClientSettings:
    """Agents, drivers and peers."""

    login_timeout_s: float = 5.0            # one auth API call
    connect_timeout_s: float = 5.0          # WebSocket handshake
    request_timeout_s: float = 5.0          # a request's reply, matched by msgIncr
    heartbeat_interval_s: float = 25.0      # text ping (docs/backends/kkim.md#heartbeat)
    heartbeat_reply_timeout_s: float = 5.0  # a ping without pong in this time is "missed"
    close_timeout_s: float = 2.0
    ice_gather_timeout_s: float = 8.0       # setLocalDescription incl. TURN allocation
    ice_connect_timeout_s: float = 10.0     # offer sent until connectionState "connected"
    media_timeout_s: float = 5.0            # first decoded frame after connected
    media_duration_s: float = 2.0           # default "media" step length
    teardown_timeout_s: float = 3.0         # closing peers and connections
    default_expect_within_s: float = 3.0    # expectation deadline when a step names none
    diagnose_late_window_s: float = 3.0     # diagnose keeps listening this long past a deadline (late vs never)
    diagnose_ring_s: int = 30               # InvitationInfo.timeout of the diagnose walk's invites
    diagnose_media_s: float = 1.0           # media the walk lets flow after the first frames, before hanging up
    probe_settle_s: float = 0.5             # an auth probe that upgraded: wait this long for an error frame
    room_notice_grace_s: float = 0.5        # call rooms: an answer a status poll saw waits this long for
                                            # its room notice before the poll is taken as the answer
    turn_start_timeout_s: float = 5.0       # an embedded coturn answers STUN within this time of starting
    turn_stop_timeout_s: float = 3.0        # an embedded coturn exits within this time of SIGTERM
    ice_check_timeout_s: float = 5.0        # one STUN binding or TURN allocation of ice-check or a TURN probe
    lab_command_timeout_s: float = 10.0     # one ip/iptables command while building or removing the NAT lab
    browser_start_timeout_s: float = 30.0   # a browser agent's Chromium started and its test page loaded
    browser_action_timeout_s: float = 15.0  # one action of a browser agent's page (its own waits included)
    remote_join_timeout_s: float = 120.0    # every --remote-agents agent has joined the control endpoint
    remote_action_timeout_s: float = 30.0   # one action of a remote agent, round trip included
    remote_silence_timeout_s: float = 10.0  # a remote agent silent this long (no heartbeat) is lost

