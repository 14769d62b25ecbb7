"""The WebRTC layer: a thin aiortc wrapper, one concept per module.

- ``ice_config``: STUN/TURN servers, host address restriction, relay policy
  (importable without aiortc).
- ``host_addresses``: the one wrapper around aioice's host address discovery.
- ``sdp_trickle``: candidates apart from the SDP, in browser JSON form (pure).
- ``media``: pre-encoded synthetic audio/video tracks and received-frame counting.
- ``stats``: flat per-kind figures from aiortc stats (pure).
- ``diagnosis``: why a leg did not connect or carried no media (pure).
- ``peer``: ``CallPeer``, one peer connection per call leg.

Import ``callprobe.rtc.peer`` explicitly: importing aiortc costs about 0.3 s
and 64 MB, which commands that place no call should not pay.
"""
