"""SFTP source, on the Airflow SFTP provider's hook and connection (paramiko underneath).

SFTP reports sizes and mtimes (seconds since the epoch, UTC) in one STAT, and lists bare names;
the common logic (choice, size-stable check, streaming, checks) is in :mod:`base`.
"""

from __future__ import annotations

import socket
import stat as stat_mode
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from saleslayer_airflow.sources.base import server_url
from saleslayer_airflow.sources.errors import (
    ExportMissingError,
    SourceAuthError,
    SourceRequestError,
    TransientFetchError,
)
from saleslayer_airflow.sources.selection import RemoteFile

#: Bytes asked for per read of a remote file.
READ_SIZE = 1024 * 1024


class SftpServer:
    """:class:`base.FileServer` over a paramiko SFTP client from SFTPHook."""

    def __init__(self, client: Any, conn_id: str, host: str, port: int) -> None:
        self.client = client
        self.conn_id = conn_id
        self._base = f"sftp://{host}:{port}"

    def url(self, path: str) -> str:
        """``sftp://host:port/path``, never with credentials."""
        return server_url(self._base, path)

    def list_names(self, directory: str) -> list[str] | None:
        """Names in the folder; None when it does not exist."""
        try:
            return list(self.client.listdir(directory))
        except FileNotFoundError:
            return None

    def stat(self, path: str) -> RemoteFile | None:
        """Size and mtime of a regular file; None when missing or not a file."""
        try:
            attrs = self.client.stat(path)
        except FileNotFoundError:
            return None
        if attrs.st_mode is not None and not stat_mode.S_ISREG(attrs.st_mode):
            return None
        mtime = None if attrs.st_mtime is None else datetime.fromtimestamp(attrs.st_mtime, UTC)
        return RemoteFile(path=path, size=attrs.st_size, mtime=mtime)

    def download(self, path: str, write: Callable[[bytes], object]) -> None:
        """Read the file in chunks, with paramiko's read-ahead."""
        try:
            handle = self.client.open(path, "rb")
        except FileNotFoundError:
            raise ExportMissingError(
                self.conn_id, self.url(path), "it disappeared before it could be read"
            ) from None
        import paramiko  # type: ignore[import-untyped]

        received = 0
        try:
            with handle:
                handle.prefetch()
                while chunk := handle.read(READ_SIZE):
                    received += len(chunk)
                    write(chunk)
        except PermissionError:
            raise
        except (TimeoutError, paramiko.SSHException, EOFError, OSError) as exc:
            raise TransientFetchError(
                f"{self.url(path)}: the SFTP connection broke after {received} bytes "
                f"({type(exc).__name__}: {exc}); connection {self.conn_id!r}. The task will "
                "retry; if this persists check the network and the server's logs"
            ) from None


def _classify(exc: BaseException, conn_id: str, where: str) -> Exception | None:
    import paramiko

    if isinstance(exc, paramiko.AuthenticationException):
        return SourceAuthError(conn_id, where, type(exc).__name__)
    if isinstance(exc, paramiko.BadHostKeyException):
        return SourceRequestError(
            f"{where}: the server's host key does not match the one in connection {conn_id!r}; "
            "check the `host_key` extra (the server may have been replaced)"
        )
    if isinstance(exc, PermissionError):
        return SourceRequestError(
            f"{where}: permission denied (connection {conn_id!r}); check that the user may "
            "read the folder and file"
        )
    if isinstance(exc, paramiko.SSHException | EOFError | OSError | socket.timeout):
        return TransientFetchError(
            f"{where}: the SFTP transfer failed ({type(exc).__name__}: {exc}); connection "
            f"{conn_id!r}. The task will retry; if this persists check the host, port and "
            "firewall"
        )
    return None


@contextmanager
def sftp_server(conn_id: str) -> Iterator[SftpServer]:
    """An :class:`SftpServer` on the Airflow SFTP connection ``conn_id``, closed afterwards."""
    from airflow.providers.sftp.hooks.sftp import SFTPHook

    # One connection attempt: a refused password must fail now, not after three tries; network
    # failures are retried by Airflow, with the connector's retry_delay.
    hook = SFTPHook(ssh_conn_id=conn_id, conn_retry_attempts=1)
    where = f"sftp://{hook.remote_host}:{hook.port}"
    try:
        with hook.get_managed_conn() as client:
            yield SftpServer(client, conn_id, hook.remote_host, hook.port or 22)
    except Exception as exc:
        mapped = _classify(exc, conn_id, where)
        if mapped is None:
            raise
        raise mapped from exc
