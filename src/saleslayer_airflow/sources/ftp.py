"""FTP and FTPS sources, on the Airflow FTP provider's hooks and connections.

Servers differ, and this adapter copes with each difference it knows:

- listings: NLST gives bare names on some servers (pyftpdlib), full paths on others (vsftpd);
  :func:`selection.bare_names` normalises them. MLSD is not used (vsftpd has none).
- SIZE: refused in ASCII mode by some servers, so the session switches to binary (TYPE I) first.
- MDTM: a naive timestamp, UTC by RFC 3659; it is made timezone-aware here.
- FTPS: many servers (vsftpd's default ``require_ssl_reuse``) refuse a data connection that does
  not resume the control connection's TLS session; ftplib does not do that by itself.

The provider hooks open their socket without a timeout (a silent server would hang the task for
ever) and FTPSHook sets ``ftplib.FTP_TLS.port`` for the whole process, so the two hooks are
subclassed to build the client with a timeout; connections, credentials and the ``passive`` and
``encoding`` extras are still read the hook's way, through ``get_connection``.
"""

from __future__ import annotations

import ftplib
import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.ftp.hooks.ftp import FTPHook, FTPSHook

from saleslayer_airflow.sources.base import server_url
from saleslayer_airflow.sources.errors import (
    ExportMissingError,
    SourceAuthError,
    SourceRequestError,
    TransientFetchError,
)
from saleslayer_airflow.sources.selection import RemoteFile

#: Default socket timeout of FTP control and data connections.
DEFAULT_TIMEOUT = timedelta(seconds=60)


def _passive(extra: dict[str, Any]) -> bool:
    value = extra.get("passive", True)
    if isinstance(value, str):
        return value.strip().lower() not in {"false", "0", "no", "off"}
    return bool(value)


class _SessionReusingFTP_TLS(ftplib.FTP_TLS):
    """FTP_TLS whose data connections resume the control connection's TLS session."""

    def ntransfercmd(
        self, cmd: str, rest: int | str | None = None
    ) -> tuple[socket.socket, int | None]:
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:  # type: ignore[attr-defined]
            session = self.sock.session if isinstance(self.sock, ssl.SSLSocket) else None
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=session)
        return conn, size


class TimedFTPHook(FTPHook):
    """FTPHook whose client has a socket timeout."""

    def __init__(self, ftp_conn_id: str, timeout: timedelta = DEFAULT_TIMEOUT) -> None:
        super().__init__(ftp_conn_id=ftp_conn_id)
        self.timeout = timeout.total_seconds()

    def _client(self, encoding: str) -> ftplib.FTP:
        return ftplib.FTP(timeout=self.timeout, encoding=encoding)

    def _secure(self, client: ftplib.FTP) -> None:
        """Nothing to do for plain FTP."""

    def get_conn(self) -> ftplib.FTP:
        """Connect and log in (once per hook), in binary mode."""
        if self.conn is None:
            params = self.get_connection(self.ftp_conn_id)
            extra = params.extra_dejson
            client = self._client(extra.get("encoding") or "utf-8")
            try:
                client.connect(params.host or "", int(params.port or ftplib.FTP_PORT))
                client.login(params.login or "anonymous", params.password or "")
                self._secure(client)
                client.set_pasv(_passive(extra))
                client.voidcmd("TYPE I")
            except BaseException:
                client.close()
                raise
            self.conn = client
        return self.conn


class TimedFTPSHook(TimedFTPHook, FTPSHook):
    """FTPSHook (explicit TLS, certificates verified) with a timeout and TLS session reuse."""

    def _client(self, encoding: str) -> ftplib.FTP:
        return _SessionReusingFTP_TLS(
            timeout=self.timeout, encoding=encoding, context=ssl.create_default_context()
        )

    def _secure(self, client: ftplib.FTP) -> None:
        assert isinstance(client, ftplib.FTP_TLS)
        client.prot_p()


def _mdtm(value: str) -> datetime | None:
    digits = value.split()[-1] if value else ""
    try:
        return datetime.strptime(digits[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


class FtpServer:
    """:class:`base.FileServer` over an FTP or FTPS connection."""

    def __init__(self, client: ftplib.FTP, conn_id: str, scheme: str, host: str, port: int):
        self.client = client
        self.conn_id = conn_id
        self._base = f"{scheme}://{host}:{port}"

    def url(self, path: str) -> str:
        """``ftp://host:port/path``, never with credentials."""
        return server_url(self._base, path)

    def list_names(self, directory: str) -> list[str] | None:
        """NLST of the folder; None when the server says it does not exist (550)."""
        try:
            return self.client.nlst(directory)
        except ftplib.error_perm as exc:
            if str(exc).startswith("550"):
                return None
            raise

    def stat(self, path: str) -> RemoteFile | None:
        """SIZE and MDTM; None when the file does not exist (or is a folder)."""
        # Listings (NLST) switch the session to ASCII, where some servers refuse SIZE.
        self.client.voidcmd("TYPE I")
        try:
            size = self.client.size(path)
        except ftplib.error_perm as exc:
            if str(exc).startswith("550"):
                return None
            size = None  # 500/502: SIZE not implemented; the file may still exist
        try:
            mtime = _mdtm(self.client.voidcmd(f"MDTM {path}"))
        except ftplib.error_perm as exc:
            if size is None and str(exc).startswith("550"):
                return None
            mtime = None
        return RemoteFile(path=path, size=size, mtime=mtime)

    def download(self, path: str, write: Callable[[bytes], object]) -> None:
        """RETR in binary mode, chunk by chunk."""
        try:
            self.client.retrbinary(f"RETR {path}", write, blocksize=1024 * 1024)
        except ftplib.error_perm as exc:
            if str(exc).startswith("550"):
                raise ExportMissingError(
                    self.conn_id, self.url(path), "it disappeared before it could be read"
                ) from None
            raise


def _classify(exc: BaseException, conn_id: str, where: str) -> Exception | None:
    """The fetch-stage error for an ftplib/socket error, or None to let it through."""
    if isinstance(exc, ftplib.error_perm) and str(exc).startswith("530"):
        return SourceAuthError(conn_id, where, str(exc).strip())
    if isinstance(exc, ssl.SSLCertVerificationError):
        return SourceRequestError(
            f"{where}: the server's TLS certificate is not trusted ({exc.verify_message}); "
            f"connection {conn_id!r}: check the host name, or install the server's CA "
            "certificate on the workers (SSL_CERT_FILE)"
        )
    if isinstance(exc, ftplib.error_perm):
        return SourceRequestError(
            f"{where}: the FTP server refused a command ({str(exc).strip()}); connection "
            f"{conn_id!r}: check the path and that the user may read it"
        )
    if isinstance(exc, ftplib.error_temp | ftplib.error_reply | EOFError | OSError):
        kind = "timed out" if isinstance(exc, TimeoutError | socket.timeout) else "failed"
        return TransientFetchError(
            f"{where}: the FTP transfer {kind} ({type(exc).__name__}: {str(exc).strip()}); "
            f"connection {conn_id!r}. The task will retry; if this persists check the host, "
            "port, firewall and the `passive` extra of the connection"
        )
    return None


@contextmanager
def ftp_server(conn_id: str, *, tls: bool, timeout: timedelta = DEFAULT_TIMEOUT) -> Iterator[Any]:
    """An :class:`FtpServer` on the Airflow connection ``conn_id``, closed afterwards.

    ftplib and socket errors raised inside the block become transient or terminal fetch errors.
    """
    hook = TimedFTPSHook(conn_id, timeout) if tls else TimedFTPHook(conn_id, timeout)
    params = hook.get_connection(conn_id)
    scheme = "ftps" if tls else "ftp"
    where = f"{scheme}://{params.host}:{params.port or ftplib.FTP_PORT}"
    try:
        client = hook.get_conn()
        yield FtpServer(client, conn_id, scheme, params.host or "", params.port or ftplib.FTP_PORT)
    except Exception as exc:
        mapped = _classify(exc, conn_id, where)
        if mapped is None:
            raise
        raise mapped from exc
    finally:
        if hook.conn is not None:
            try:
                hook.conn.quit()
            except Exception:
                hook.conn.close()
            hook.conn = None
