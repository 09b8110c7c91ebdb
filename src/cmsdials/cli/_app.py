"""The ``cmsdials`` command group: global options, the shared client, error handling.

Global options come from flags or the environment (``DIALS_BASE_URL``,
``DIALS_WORKSPACE``, ``DIALS_SECRET_KEY_FILE``; the key itself from
``DIALS_SECRET_KEY``).  There is no flag that takes the secret key itself: the argument
list of a process is readable by every user of the machine (``ps``, ``/proc``) and lands in
shell histories.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from pydantic import BaseModel

from cmsdials._env import (
    BASE_URL_ENV,
    SECRET_KEY_ENV,
    WORKSPACE_ENV,
    env_value,
    read_secret_file,
    resolve_base_url,
)
from cmsdials._version import __version__
from cmsdials.cli._errors import CommandError, Interrupted, describe
from cmsdials.cli._lists import SuggestingCommand, get_command, list_commands
from cmsdials.cli._output import FORMATS, emit

if TYPE_CHECKING:
    from cmsdials._dials import Dials
    from cmsdials.auth.base import BaseCredentials

__all__ = ["State", "cli", "run"]

#: A file holding the secret key (the flag's variable).
SECRET_KEY_FILE_ENV = "DIALS_SECRET_KEY_FILE"


class State:
    """What the global options chose, and the one client the command uses."""

    def __init__(
        self,
        base_url: str,
        workspace: str | None,
        secret_key_file: str | None,
        quiet: bool,
    ) -> None:
        self.base_url = base_url
        self.workspace = workspace
        self.secret_key_file = secret_key_file
        self.quiet = quiet
        self._dials: Dials | None = None

    def __repr__(self) -> str:  # no secret here, but keep it that way
        return f"State(base_url={self.base_url!r}, workspace={self.workspace!r})"

    def secret_key(self) -> str | None:
        """The secret key from ``--secret-key-file``, else ``$DIALS_SECRET_KEY``, else None."""
        if self.secret_key_file:
            return read_secret_file(self.secret_key_file)
        return env_value(SECRET_KEY_ENV)

    @property
    def key_source(self) -> str | None:
        """Where the secret key comes from (for ``whoami``), or None."""
        if self.secret_key_file:
            return f"file {self.secret_key_file}"
        return f"${SECRET_KEY_ENV}" if env_value(SECRET_KEY_ENV) else None

    def credentials(self) -> BaseCredentials:
        """The credentials: the secret key, else the cached sign-in (never prompts)."""
        from cmsdials._env import credentials_from_env

        return credentials_from_env(self.base_url, secret_key=self.secret_key(), interactive=False)

    def dials(self) -> Dials:
        """The client (made on first use, closed when the command ends)."""
        if self._dials is None:
            from cmsdials._dials import Dials

            self._dials = Dials(
                self.credentials(), workspace=self.workspace, base_url=self.base_url
            )
        return self._dials

    def close(self) -> None:
        if self._dials is not None:
            self._dials.close()


class DialsGroup(click.Group):
    """The command group: every error a user can cause becomes one line and exit 1."""

    command_class = SuggestingCommand

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, BrokenPipeError):
            # click's own: usage errors (exit 2), --help, and a reader that went away
            # (`cmsdials runs | head`: click exits quietly with 1).
            raise
        except KeyboardInterrupt:
            raise Interrupted() from None
        except Exception as exc:
            state = ctx.find_object(State)
            raise CommandError(describe(exc, state)) from exc


@click.group(
    cls=DialsGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--base-url",
    envvar=BASE_URL_ENV,
    metavar="URL",
    help=f"DIALS server [env {BASE_URL_ENV}; default production]",
)
@click.option(
    "--workspace",
    "-w",
    envvar=WORKSPACE_ENV,
    help=f"workspace to read [env {WORKSPACE_ENV}; default: the server's choice for you]",
)
@click.option(
    "--secret-key-file",
    envvar=SECRET_KEY_FILE_ENV,
    type=click.Path(dir_okay=False),
    help=f"read an API-client secret key from this file [env {SECRET_KEY_FILE_ENV}; or put "
    f"the key itself in {SECRET_KEY_ENV}]. No flag takes the key: command lines are "
    "visible to every user (ps)",
)
@click.option("--quiet", "-q", is_flag=True, help="no progress bars or notes on stderr")
@click.version_option(__version__, "--version", "-V", prog_name="cmsdials")
@click.pass_context
def cli(
    ctx: click.Context,
    base_url: str | None,
    workspace: str | None,
    secret_key_file: str | None,
    quiet: bool,
) -> None:
    """Read CMS DIALS from a shell: list, get, fetch data sets, sign in.

    Credentials: an API-client secret key (DIALS_SECRET_KEY or --secret-key-file), else
    the sign-in cached by `cmsdials login`.
    """
    state = State(resolve_base_url(base_url), workspace or None, secret_key_file, quiet)
    ctx.obj = state
    ctx.call_on_close(state.close)


class _Workspace(BaseModel):
    workspace: str
    default: bool


@cli.command("workspaces", cls=SuggestingCommand)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--count", is_flag=True, help="print only the number of workspaces")
@click.pass_obj
def workspaces(state: State, fmt: str, output: Path | None, count: bool) -> None:
    """List the workspaces of the server; `default` marks the one you are routed to."""
    dials = state.dials()
    names = dials.workspace.list().get("workspaces", [])
    if count:
        click.echo(len(names))
        return
    mine = dials.workspace.my_workspace().get("workspace")
    rows = [_Workspace(workspace=str(name), default=name == mine) for name in names]
    emit(rows, _Workspace, fmt, output)


for _command in list_commands():
    cli.add_command(_command)
cli.add_command(get_command())

# The other commands register themselves on `cli` when imported.
from cmsdials.cli import _auth, _data, _plot  # noqa: E402, F401


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command; its exit code (errors are shown here, never as tracebacks)."""
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="cmsdials",
            standalone_mode=False,
        )
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        Interrupted().show()
        return Interrupted.exit_code
    return result if isinstance(result, int) else 0
