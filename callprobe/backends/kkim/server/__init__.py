"""The embedded reference gateway: a faithful KKIM server built on ``callprobe.backends.kkim.protocol``.

It behaves like the KKIM server of the field reports and, where they are
silent, like OpenIM v3.8.3 (docs/backends/kkim.md#where-servers-differ), so what callprobe learns
against it transfers to real servers. Its fault injectors (``faults``)
reproduce the failures of docs/field-failures.md on purpose.

Everything it logs goes to the ``callprobe.server.kkim`` logger (``LOGGER_NAME``)
or its children, the websockets library's lines about its connections
included: one WARNING line per malformed or refused input, INFO for
connections and call transitions. A command that embeds the gateway keeps it
off the user's terminal by setting that one logger's level.
"""

import dataclasses
from typing import Any

from callprobe.backends.base import EmbeddedConfig
from callprobe.backends.kkim.faults import FAULTS
from callprobe.backends.kkim.server.faults import Faults, parse_fault
from callprobe.backends.kkim.server.server import (
    LOGGER_NAME,
    EmbeddedGateway,
    ThreadedGateway,
)
from callprobe.settings import GatewaySettings

#: Limits a load run lifts (``EmbeddedConfig.load``): thousands of agents on one machine open more
#: WebSocket and auth API connections than one deployment's clients would from one address.
LOAD_LIMITS: dict[str, Any] = {"max_connections": None, "api_max_connections": 4096, "listen_backlog": 4096}


def embedded(config: EmbeddedConfig) -> EmbeddedGateway:
    """The gateway a run or walk starts: free ports, the login's secret and admin, the faults."""
    login = config.login
    secret = getattr(login, "secret", "") or GatewaySettings.secret
    admin = getattr(login, "admin_user", "") or "imAdmin"
    settings = GatewaySettings(
        host=config.host, ws_port=0, api_port=0, secret=secret, admin_users=(admin,),
        invite_timeout_override_s=config.ring_timeout_s, faults=tuple(parse_fault(f) for f in config.faults))
    if config.load:
        settings = dataclasses.replace(settings, **LOAD_LIMITS)
    return EmbeddedGateway(settings)


__all__ = ["FAULTS", "LOAD_LIMITS", "LOGGER_NAME", "EmbeddedGateway", "Faults", "ThreadedGateway", "embedded",
           "parse_fault"]
