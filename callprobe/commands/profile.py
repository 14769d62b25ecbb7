"""``callprobe profile``: named servers for ``--profile NAME`` (add, list, show, remove)."""

from __future__ import annotations

import click

from callprobe.profiles import KEYS


@click.group("profile")
def command() -> None:
    """Named servers, so `run`, `diagnose` and `ice-check` take `--profile NAME`
    instead of the same URLs every day.

    Profiles are kept in $XDG_CONFIG_HOME/callprobe/profiles.yaml
    (~/.config/callprobe/profiles.yaml by default). A profile never holds a
    secret: it names the environment variable that holds it (--secret-env
    PROD_IM_SECRET). An option's value comes from the command line first, then
    its environment variable (CALLPROBE_SERVER, ...), then the profile, then
    the default.
    """


def _help(key: str) -> str:
    return KEYS[key][0].upper() + KEYS[key][1:] + "."


@command.command("add")
@click.argument("name")
@click.option("--backend", type=click.Choice(["kkim", "socketio", "rooms"]), default=None, help=_help("backend"))
@click.option("--server", metavar="URL", help=_help("server"))
@click.option("--api", metavar="URL", help=_help("api"))
@click.option("--login", "login", type=click.Choice(["admin_user_token", "user_token", "fixed", "custom"]),
              default=None, help=_help("login"))
@click.option("--admin-user", metavar="ID", help=_help("admin_user"))
@click.option("--secret-env", metavar="VAR", help=_help("secret_env"))
@click.option("--password-env", metavar="VAR", help=_help("password_env"))
@click.option("--caller", metavar="ID", help=_help("caller"))
@click.option("--callee", metavar="ID", help=_help("callee"))
@click.option("--caller-token-env", metavar="VAR", help=_help("caller_token_env"))
@click.option("--callee-token-env", metavar="VAR", help=_help("callee_token_env"))
@click.option("--login-url", metavar="URL", help=_help("login_url"))
@click.option("--login-method", type=click.Choice(["GET", "POST", "PUT", "PATCH"], case_sensitive=False),
              default=None, help=_help("login_method"))
@click.option("--login-body", metavar="JSON", help=_help("login_body"))
@click.option("--token-path", metavar="PATH", help=_help("token_path"))
@click.option("--stun", multiple=True, metavar="URL", help=_help("stun") + " Repeatable.")
@click.option("--turn", multiple=True, metavar="URL", help=_help("turn") + " Repeatable.")
@click.option("--turn-user", metavar="USER", help=_help("turn_user"))
@click.option("--turn-credential-env", metavar="VAR", help=_help("turn_credential_env"))
@click.option("--turn-secret-env", metavar="VAR", help=_help("turn_secret_env"))
@click.option("--replace", is_flag=True, help="Overwrite a profile of that name.")
def add_command(name: str, replace: bool, **values: object) -> None:
    """Add profile NAME (--replace overwrites an existing one).

    For example `callprobe profile add prod --server wss://... --api https://...
    --login admin_user_token --secret-env PROD_IM_SECRET`.
    """
    from callprobe.profiles import save_profile

    if isinstance(values.get("login_method"), str):
        values["login_method"] = str(values["login_method"]).upper()
    path = save_profile(name, {k: (list(v) if isinstance(v, tuple) else v) for k, v in values.items()},
                        replace=replace)
    click.echo(f"profile {name} saved in {path}")


@command.command("list")
def list_command() -> None:
    """List the profiles, one per line: name, backend and server."""
    from callprobe.profiles import load_profiles, profiles_path

    profiles = load_profiles()
    if not profiles:
        click.echo(f"no profiles yet in {profiles_path()} (callprobe profile add NAME --server URL ...)")
        return
    width = max(len(n) for n in profiles)
    for name, profile in profiles.items():
        backend = profile.get("backend") or "kkim"
        server = profile.get("server") or "(no server)"
        click.echo(f"{name:<{width}}  {backend:<8}  {server}")


@command.command("show")
@click.argument("name")
def show_command(name: str) -> None:
    """Print profile NAME, and whether each environment variable it names is set (never a value)."""
    from callprobe.profiles import dump_profile, get_profile

    click.echo(dump_profile(get_profile(name)), nl=False)


@command.command("remove")
@click.argument("name")
def remove_command(name: str) -> None:
    """Remove profile NAME."""
    from callprobe.profiles import remove_profile

    path = remove_profile(name)
    click.echo(f"profile {name} removed from {path}")
