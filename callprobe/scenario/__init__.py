"""Scenario files: the YAML format, its checks and the model the runner plays.

``load_scenario(path)`` returns a checked ``Scenario`` or raises a
``ScenarioError`` naming file, line and field of every problem. The format is
documented in ``scenarios/README.md``.
"""

from callprobe.scenario.loader import InvalidScenario, format_problem, load_scenario, load_scenario_text
from callprobe.scenario.model import (
    Action,
    AgentConfig,
    Expectation,
    LoginConfig,
    Scenario,
    ServerConfig,
    Step,
)

__all__ = [
    "Action",
    "AgentConfig",
    "Expectation",
    "InvalidScenario",
    "LoginConfig",
    "Scenario",
    "ServerConfig",
    "Step",
    "format_problem",
    "load_scenario",
    "load_scenario_text",
]
