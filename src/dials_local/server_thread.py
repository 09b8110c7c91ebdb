"""``dials-local serve ARGS``, run by uvicorn in a thread of this process.

What an in-thread :class:`~dials_local.testing.LocalServer` starts (``in_thread=True``),
like moto's server mode: the same command-line parsing, the same app
(:func:`dials_local.cli.prepare_serve`) and the same uvicorn settings as the ``serve``
command, over a real socket, without the start-up of a Python process and the imports of
the server (about a second each).  Needs the ``local`` extra.

Its log lines (the request log, errors, uvicorn's own) are written to a file as the
command writes them to stderr, and still reach this process's ``dials_local`` and
``uvicorn`` loggers.  Records are told apart by server through a context variable, set in
the server's thread and again in each request's task (on Python 3.9 connections do not
inherit the serving task's context), from which the request's worker threads inherit it.

What differs from a process: the server shares this process's GIL, its umask, and the
module-level bound on concurrent database work (:data:`dials_local.api.context.DB_WORK`)
with any other in-thread server; and it cannot be signalled or killed.
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import io
import logging
import os
import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dials_local import cli
from dials_local.asgi import ASGIApp, Receive, Scope, Send
from dials_local.db.engines import Database

#: Seconds :meth:`ServerThread.stop` waits for uvicorn to finish (its graceful shutdown
#: takes at most :data:`dials_local.cli.SHUTDOWN_GRACE_SECONDS`).
STOP_TIMEOUT = 10.0


#: The loggers whose records make up a server's log.
LOGGERS = ("dials_local", "uvicorn")

#: The server whose event loop (or worker thread) runs the current code.
_CURRENT: contextvars.ContextVar[ServerThread | None] = contextvars.ContextVar(
    "dials_local_server_thread", default=None
)


class _RecordsOf(logging.Filter):
    """Passes the records logged while serving ``owner``'s requests only."""

    def __init__(self, owner: ServerThread) -> None:
        super().__init__()
        self.owner = owner

    def filter(self, record: logging.LogRecord) -> bool:
        return _CURRENT.get() is self.owner


def _attributed(app: ASGIApp, owner: ServerThread) -> ASGIApp:
    """``app``, marking each request's task (and the worker threads it starts) as
    ``owner``'s, for :class:`_RecordsOf`."""

    async def marked(scope: Scope, receive: Receive, send: Send) -> None:
        _CURRENT.set(owner)  # the request task's own context: no reset needed
        await app(scope, receive, send)

    return marked


class ServerThreadError(RuntimeError):
    """The arguments, the database or the start-up of an in-thread server failed."""


def parse_serve_arguments(argv: Sequence[str]) -> argparse.Namespace:
    """``dials-local serve ARGV`` parsed as the command would parse it; a
    :class:`ServerThreadError` with argparse's reason when it would exit with usage."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stderr(printed):
            return cli.build_parser().parse_args(["serve", *argv])
    except SystemExit:
        reason = (printed.getvalue().strip().splitlines() or ["?"])[-1]
        raise ServerThreadError(f"invalid serve arguments {list(argv)}: {reason}") from None


class ServerThread:
    """One server on ``host:port`` (``port`` 0: a free one), started by :meth:`start`.

    ``secret`` is registered as an API key, ``admin_token`` guards the control routes
    (with ``--testing`` in ``argv``).  Secrets never pass through ``argv``.  ``log_path``
    receives the server's log lines (created 0600: it may sit in the data directory).
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        secret: str | None,
        admin_token: str | None,
        log_path: Path | None = None,
    ) -> None:
        self.args = parse_serve_arguments(argv)
        self.secret = secret
        self.admin_token = admin_token
        self.log_path = log_path
        self.port: int | None = None
        self._log_handler: logging.Handler | None = None
        self._database: Database | None = None
        self._listener: socket.socket | None = None
        self._server: Any = None  # a uvicorn.Server
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    def start(self, timeout: float) -> None:
        """Prepare the database and the app, then serve until :meth:`stop`; returns once
        the server accepts connections.  Raises :class:`ServerThreadError` (nothing is
        left running) or ``TimeoutError``."""
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> None:
        import uvicorn

        args = self.args
        if self.log_path is not None:
            self._log_to(self.log_path)
        preparing = _CURRENT.set(self)  # what it logs meanwhile belongs to its log too
        try:
            self._database = cli.database_for(args)
            self._listener = cli.listen(args.host, args.port)
            app, _ = cli.prepare_serve(args, self._database, self.secret, self.admin_token)
        except cli.CommandError as error:
            raise ServerThreadError(str(error)) from None
        finally:
            _CURRENT.reset(preparing)
        self.port = int(self._listener.getsockname()[1])
        config = cli.uvicorn_config(_attributed(app, self), args.host, self.port, in_thread=True)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._run, name=f"dials-local:{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise ServerThreadError(
                    f"dials-local stopped during start-up: {self._failure!r}"
                    if self._failure is not None
                    else "dials-local stopped during start-up (see the log records above)"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"dials-local did not start within {timeout} s")
            time.sleep(0.01)

    def _log_to(self, path: Path) -> None:
        """Write this server's records to ``path``, in the command's format."""
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(descriptor)
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter(cli.LOG_FORMAT))
        handler.addFilter(_RecordsOf(self))
        for name in LOGGERS:
            logger = logging.getLogger(name)
            if logger.level == logging.NOTSET:  # else the host process chose a level
                logger.setLevel(logging.INFO)
            logger.addHandler(handler)
        self._log_handler = handler

    def _run(self) -> None:
        assert self._server is not None and self._listener is not None
        # Inherited by every task of the loop and every worker thread it starts.
        _CURRENT.set(self)
        try:
            self._server.run(sockets=[self._listener])
        except BaseException as error:  # reported by start(); a thread cannot raise it
            self._failure = error

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Shut uvicorn down (requests in flight get its grace period), then close the
        socket and the database's connections.  Safe to call more than once."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT)
            self._thread = None
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
            self._listener = None
        if self._database is not None:
            self._database.dispose()
            self._database = None
        if self._log_handler is not None:
            for name in LOGGERS:
                logging.getLogger(name).removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None
