"""Agents on other hosts: the control channel between ``callprobe run --remote-agents`` and
``callprobe agent`` (``docs/peers.md#agents-on-other-hosts``).

``protocol`` is the pure part: the messages and the clock-offset estimate;
``hub`` is the run's side (the control endpoint and one ``RemoteAgent`` party
per remote agent); ``worker`` is the agent's side.
"""
