"""Named server profiles: what ``--profile NAME`` fills in for ``run``, ``diagnose`` and ``ice-check``.

Profiles live in one YAML file, ``$XDG_CONFIG_HOME/callprobe/profiles.yaml``
(``~/.config/callprobe/profiles.yaml`` when the variable is unset)::

    profiles:
      prod:
        backend: kkim
        server: wss://im.example.com:10001
        api: https://im.example.com:10002
        login: admin_user_token
        admin_user: imAdmin
        secret_env: PROD_IM_SECRET      # the secret itself stays in the environment

A profile never holds a secret: each secret is named by the environment
variable that holds it (a key ending in ``_env``); a key like ``secret:``
is refused with the ``_env`` key to use instead. The file is read with the
scenario machinery (``scenario.source``), so every problem names
``FILE:LINE: FIELD``.

An option's value comes from, first to last: the command line, its
environment variable (``CALLPROBE_SERVER``...), the profile, the default
(``fill_from_profile``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import yaml

from callprobe.errors import ConfigError
from callprobe.scenario.source import FieldPath, Problem, Source, parse
from callprobe.scenario.values import describe, one_of, quoted, suggest, url_problem

#: The environment variable naming the profile to use when ``--profile`` is not given.
PROFILE_ENV = "CALLPROBE_PROFILE"

FAMILIES = ("kkim", "socketio", "rooms")
LOGIN_MODES = ("admin_user_token", "user_token", "fixed", "custom")
LOGIN_METHODS = ("GET", "POST", "PUT", "PATCH")

#: Every key a profile may hold, with what it means (``profile add --help`` and errors use these words).
KEYS: dict[str, str] = {
    "backend": "the backend family: kkim, socketio or rooms (default kkim)",
    "server": "the server URL, as --server takes it",
    "api": "KKIM: the auth API base URL, as --api takes it",
    "login": "KKIM: the login mode, as --login-mode takes it",
    "admin_user": "login admin_user_token: the admin user ID",
    "secret_env": "the environment variable holding the auth API secret",
    "password_env": "the environment variable holding the test accounts' password",
    "caller": "diagnose: the caller's user ID",
    "callee": "diagnose: the callee's user ID",
    "caller_token_env": "login fixed: the environment variable holding the caller's token",
    "callee_token_env": "login fixed: the environment variable holding the callee's token",
    "login_url": "login custom: the login URL (absolute, or a path relative to api)",
    "login_method": "login custom: the HTTP method (default POST)",
    "login_body": "login custom: the JSON body template",
    "token_path": "login custom: where the token is in the reply (default data.token)",
    "stun": "STUN server URLs",
    "turn": "TURN server URLs",
    "turn_user": "the TURN username",
    "turn_credential_env": "the environment variable holding the TURN credential",
    "turn_secret_env": "the environment variable holding the TURN server's static-auth-secret",
}

#: Keys of one login mode (or several): with another mode they are an error, not silently unused.
KEY_MODES: dict[str, tuple[str, ...]] = {
    "admin_user": ("admin_user_token",), "secret_env": ("admin_user_token", "user_token", "custom"),
    "caller_token_env": ("fixed",), "callee_token_env": ("fixed",), "login_url": ("custom",),
    "login_method": ("custom",), "login_body": ("custom",), "token_path": ("custom",),
}

#: Keys that would hold a secret in clear, and the key that names its variable instead.
CLEAR_SECRETS = {"secret": "secret_env", "password": "password_env", "token": "caller_token_env",
                 "caller_token": "caller_token_env", "callee_token": "callee_token_env",
                 "credential": "turn_credential_env", "turn_credential": "turn_credential_env",
                 "turn_password": "turn_credential_env", "turn_secret": "turn_secret_env"}

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PROFILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_LISTS = ("stun", "turn")

#: Parameters that are one choice (a TURN credential, or the secret that makes one).
_ONE_CHOICE = ("turn_credential", "turn_secret")

Report = Callable[[FieldPath, str], None]


class ProfileError(ConfigError):
    """A profile file with problems, or a profile that cannot be used; each line names file, line and field."""

    hint = "callprobe profile list names the profiles; see README.md#profiles for the format"


@dataclass(frozen=True)
class Profile:
    """One checked profile: ``values`` holds the keys it gives (lists for ``stun`` and ``turn``)."""

    name: str
    file: str
    values: Mapping[str, Any]

    def get(self, key: str) -> Any:
        return self.values.get(key)

    def secret(self, key: str) -> str | None:
        """The value of the variable a ``*_env`` key names; None when the profile has no such key.

        Raises:
            ProfileError: the variable is not set (a secret that is named but missing is a slip).
        """
        variable = self.values.get(key)
        if variable is None:
            return None
        value = os.environ.get(str(variable))
        if value is None:
            raise ProfileError(f"profile {self.name!r} ({self.file}): {key} names the environment "
                               f"variable {variable}, which is not set",
                               hint=f"export {variable}=... before running callprobe")
        return value


def profiles_path() -> Path:
    """``$XDG_CONFIG_HOME/callprobe/profiles.yaml``, or ``~/.config/callprobe/profiles.yaml``."""
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    folder = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return folder / "callprobe" / "profiles.yaml"


def load_profiles(path: Path | None = None) -> dict[str, Profile]:
    """Every profile in the file (none when it does not exist yet).

    Raises:
        ProfileError: the file cannot be read, or it has problems (all listed, each ``FILE:LINE: FIELD: what``).
    """
    path = path or profiles_path()
    if not path.exists():
        return {}
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path}: cannot read the profiles file: {exc}") from None
    source = parse(text, str(path))
    problems = list(source.problems)
    profiles: dict[str, Profile] = {}
    if not problems and source.data is not None:
        profiles = _check_file(source, problems)
    if problems:
        raise ProfileError("\n".join(_where(str(path), p) for p in problems))
    return profiles


def get_profile(name: str, path: Path | None = None) -> Profile:
    """The profile ``name``; an unknown name is an error with the closest known one."""
    path = path or profiles_path()
    profiles = load_profiles(path)
    if name in profiles:
        return profiles[name]
    known = ", ".join(sorted(profiles)) or f"none yet (callprobe profile add {name} --server URL ...)"
    raise ProfileError(f"no profile {name!r} in {path}{suggest(name, profiles)}; the profiles are: {known}")


def save_profile(name: str, values: Mapping[str, Any], *, replace: bool = False,
                 path: Path | None = None) -> Path:
    """Add (or with ``replace``, overwrite) profile ``name``; return the file written.

    The values are checked as if read from the file, so what is saved loads.
    """
    path = path or profiles_path()
    if not _PROFILE_NAME.fullmatch(name):
        raise ProfileError(f"profile name {name!r}: expected letters, digits, '_', '-' or '.'")
    profiles = {n: dict(p.values) for n, p in load_profiles(path).items()}
    if name in profiles and not replace:
        raise ProfileError(f"profile {name!r} already exists in {path}",
                           hint="add --replace to overwrite it, or remove it first")
    given = {k: v for k, v in values.items() if v not in (None, "", (), [])}
    problems: list[str] = []

    def option_error(field: FieldPath, message: str) -> None:
        key = str(field[2]) if len(field) > 2 else name
        problems.append(f"--{key.replace('_', '-')}: {message}")

    _check_values(("profiles", name), given, option_error)
    if problems:
        raise ProfileError("\n".join(problems))
    profiles[name] = given
    text = _dump(profiles)
    _check_text(text, str(path))  # what is saved loads
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def remove_profile(name: str, path: Path | None = None) -> Path:
    """Remove profile ``name`` from the file; an unknown name is an error."""
    path = path or profiles_path()
    get_profile(name, path)
    profiles = {n: dict(p.values) for n, p in load_profiles(path).items() if n != name}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(_dump(profiles), encoding="utf-8")
    tmp.replace(path)
    return path


def dump_profile(profile: Profile) -> str:
    """A profile as YAML, each ``*_env`` key followed by whether its variable is set (never its value)."""
    lines = [f"{profile.name}:"]
    for key, value in profile.values.items():
        flow = isinstance(value, list)  # lists on one line; scalars as block YAML, unquoted where possible
        text = yaml.safe_dump({key: value}, default_flow_style=flow, sort_keys=False, width=1 << 16).strip()
        text = text[1:-1] if flow else text  # {key: [a, b]} -> key: [a, b]
        if key.endswith("_env"):
            state = "set" if str(value) in os.environ else "not set"
            text += f"    # {state} in this environment"
        lines.append(f"  {text}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ resolution


def fill_from_profile(ctx: click.Context, params: dict[str, Any], profile: Profile | None,
                      fields: Mapping[str, str], *, names: Collection[str] = ()) -> None:
    """Fill ``params`` from ``profile`` where neither the command line nor the environment gave a value.

    ``fields`` maps a parameter name to a profile key; a ``*_env`` key fills
    the parameter with that variable's value, or with its name for a
    parameter in ``names`` (an option that names a variable, like
    ``--caller-token-env``). Precedence: command line >
    environment variable > profile > default. A TURN credential and a TURN
    secret are one choice: when either is given, the profile gives neither.
    """
    if profile is None:
        return

    def given(param: str) -> bool:
        return ctx.get_parameter_source(param) in (click.core.ParameterSource.COMMANDLINE,
                                                   click.core.ParameterSource.ENVIRONMENT)

    for param, key in fields.items():
        group = [p for p in _ONE_CHOICE if param in _ONE_CHOICE] or [param]
        if any(given(p) for p in group):
            continue
        value = profile.secret(key) if key.endswith("_env") and param not in names else profile.get(key)
        if value is not None:
            params[param] = tuple(value) if key in _LISTS else value


# ------------------------------------------------------------------ the file


def _dump(profiles: Mapping[str, Mapping[str, Any]]) -> str:
    header = ("# callprobe profiles (callprobe profile add|list|show|remove). Secrets are never stored\n"
              "# here: keys ending in _env name the environment variable that holds them.\n")
    body = yaml.safe_dump({"profiles": {n: dict(v) for n, v in profiles.items()}}, sort_keys=False,
                          default_flow_style=False, allow_unicode=True, width=1 << 16)
    return header + body


def _check_text(text: str, file: str) -> dict[str, Profile]:
    source = parse(text, file)
    problems = list(source.problems)
    profiles = _check_file(source, problems) if not problems else {}
    if problems:
        raise ProfileError("\n".join(_where(file, p) for p in problems))
    return profiles


def _where(file: str, problem: Problem) -> str:
    where = file + (f":{problem.line}" if problem.line is not None else "")
    where += f":{problem.column}" if problem.line is not None and problem.column is not None else ""
    return f"{where}: {problem.field}: {problem.message}" if problem.field else f"{where}: {problem.message}"


def _check_file(source: Source, problems: list[Problem]) -> dict[str, Profile]:
    data = source.data

    def error(path: FieldPath, message: str) -> None:
        problems.append(source.problem(path, message))

    if not isinstance(data, dict):
        error((), f"expected a mapping with the key profiles, got {describe(data)}")
        return {}
    for key in data:
        if key != "profiles":
            error((key,), f"unknown key {quoted(key)}{suggest(key, ['profiles'])}; expected profiles")
    given = data.get("profiles")
    if given is None:
        return {}
    if not isinstance(given, dict):
        error(("profiles",), f"expected a mapping of profile names to profiles, got {describe(given)}")
        return {}
    out: dict[str, Profile] = {}
    for name, spec in given.items():
        before = len(problems)
        if not _PROFILE_NAME.fullmatch(name):
            error(("profiles", name), f"profile name {quoted(name)}: expected letters, digits, '_', '-' or '.'")
            continue
        values = _check_profile(source, ("profiles", name), spec, error)
        if len(problems) == before:
            out[name] = Profile(name=name, file=source.file, values=values)
    return out


def _check_profile(source: Source, base: FieldPath, spec: Any, error: Report) -> dict[str, Any]:
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        error(base, f"expected a profile mapping (server, api, login, ...), got {describe(spec)}")
        return {}
    values: dict[str, Any] = {}
    for key, value in spec.items():
        path = base + (key,)
        if key in CLEAR_SECRETS:
            error(path, f"a profile never holds a secret in clear; put it in an environment variable "
                        f"and name the variable: {CLEAR_SECRETS[key]}: MY_VARIABLE")
            continue
        if key not in KEYS:
            error(path, f"unknown key {quoted(key)}{suggest(key, KEYS)}; expected one of {one_of(KEYS)}")
            continue
        if key in _LISTS:
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                error(path, f"expected a URL or a list of URLs, got {describe(value)}")
                continue
            values[key] = list(items)
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            error(path, f"expected text, got {describe(value)}")
            continue
        text = source.raw_text(path) if not isinstance(value, str) else value
        values[key] = text if text is not None else str(value)
    _check_values(base, values, error)
    return values


def _check_values(base: FieldPath, values: dict[str, Any], error: Report) -> None:
    family = str(values.get("backend") or "kkim")
    for key, choices in (("backend", FAMILIES), ("login", LOGIN_MODES), ("login_method", LOGIN_METHODS)):
        value = values.get(key)
        if value is not None and value not in choices:
            error(base + (key,), f"expected one of {one_of(choices)}, got {quoted(str(value))}"
                                 f"{suggest(str(value), choices)}")
    for key, value in values.items():
        if key.endswith("_env") and not _ENV_NAME.fullmatch(str(value)):
            # not quoted back: what is written there by mistake is likely the secret itself
            error(base + (key,), "expected the name of an environment variable (letters, digits and "
                                 "'_', like PROD_IM_SECRET), not the secret itself")
    if family not in FAMILIES:
        return
    mode = str(values.get("login") or "admin_user_token")
    for key, modes in KEY_MODES.items():
        if key not in values:
            continue
        if family != "kkim":
            error(base + (key,), f"{key} is for the KKIM gateway's login; backend {family} logs in with "
                                 "the accounts' password (password_env)")
        elif mode not in modes:
            error(base + (key,), f"{key} is used by login {one_of(modes)} only (login is {mode})")
    if family == "kkim" and mode == "custom" and "login_url" not in values:
        error(base + ("login",), "login custom needs login_url (absolute, or a path relative to api)")
    if family != "kkim" and "login" in values:
        error(base + ("login",), f"login modes are the KKIM gateway's; backend {family} logs in with "
                                 "the accounts' password (password_env)")
    if "turn_credential_env" in values and "turn_secret_env" in values:
        error(base + ("turn_secret_env",), "give turn_credential_env or turn_secret_env, not both")
    server = values.get("server")
    if server is not None:
        problem = url_problem(str(server), _server_schemes(family))
        if problem is not None:
            error(base + ("server",), f"{problem}; expected the URL --server takes for backend {family}")
    api = values.get("api")
    if api is not None:
        if family != "kkim":
            error(base + ("api",), f"api is the KKIM gateway's auth API; backend {family} serves "
                                   "everything from server")
        else:
            problem = url_problem(str(api), ("http", "https"))
            if problem is not None:
                error(base + ("api",), problem)
    from callprobe.rtc.ice_config import parse_ice_url

    for key in _LISTS:
        for index, url in enumerate(values.get(key) or ()):
            try:
                scheme = parse_ice_url(url)["scheme"]
            except ConfigError as exc:
                error(base + (key, index), str(exc))
                continue
            if not scheme.startswith(key):
                error(base + (key, index), f"expected a {key}: URL, got {quoted(url)}")


def _server_schemes(family: str) -> tuple[str, ...]:
    if family == "kkim":
        return ("ws", "wss")
    from callprobe.backends.registry import family as lookup

    return tuple(lookup(family).schemes)


__all__ = ["KEYS", "PROFILE_ENV", "Profile", "ProfileError", "dump_profile", "fill_from_profile", "get_profile",
           "load_profiles", "profiles_path", "remove_profile", "save_profile"]
