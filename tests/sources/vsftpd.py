"""Debian's vsftpd as a real FTP server for the tests (used when the binary is installed).

Set up as running-airflow-here.md section 5 describes: a throw-away user with a no-login shell,
an own PAM service without pam_shells (P11), allow_writeable_chroot (P12), passive ports, and
everything removed afterwards. Needs root (PAM, chroot), as in CI.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from tests.sources.servers import PASSWORD

PAM_DIR = Path("/etc/pam.d")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def unavailable() -> str | None:
    """Why vsftpd cannot run here, or None."""
    if shutil.which("vsftpd") is None:
        return "vsftpd is not installed (apt-get install vsftpd; CI installs it)"
    if os.geteuid() != 0:
        return "vsftpd needs root (PAM and chroot)"
    return None


class Vsftpd:
    """A vsftpd process serving ``<home>/exports`` to a throw-away local user."""

    def __init__(self, folder: Path) -> None:
        self.user = f"slftp{uuid.uuid4().hex[:8]}"
        self.pam = f"saleslayer-test-{self.user}"
        # The user must reach its home: pytest's tmp folders are private to root (0700).
        self._base = Path(tempfile.mkdtemp(prefix="saleslayer-vsftpd-"))
        self._base.chmod(0o755)
        self.home = self._base / "home"
        self.empty = folder / "empty"
        self.empty.mkdir(parents=True)
        self.empty.chmod(0o755)
        self.port = _free_port()
        passive = _free_port()
        false = shutil.which("false") or "/bin/false"
        subprocess.run(
            ["useradd", "--home-dir", str(self.home), "--create-home", "--shell", false, self.user],
            check=True,
        )
        subprocess.run(["chpasswd"], input=f"{self.user}:{PASSWORD}", text=True, check=True)
        (self.home / "exports").mkdir()
        shutil.chown(self.home / "exports", self.user)
        (PAM_DIR / self.pam).write_text(
            "@include common-account\n@include common-session\n@include common-auth\n"
        )
        config = folder / "vsftpd.conf"
        config.write_text(
            "\n".join(
                [
                    "listen=YES",
                    "listen_ipv6=NO",
                    "listen_address=127.0.0.1",
                    f"listen_port={self.port}",
                    "background=NO",
                    "anonymous_enable=NO",
                    "local_enable=YES",
                    "write_enable=NO",
                    "chroot_local_user=YES",
                    "allow_writeable_chroot=YES",
                    "pasv_enable=YES",
                    f"pasv_min_port={passive}",
                    f"pasv_max_port={passive}",
                    "pasv_address=127.0.0.1",
                    f"secure_chroot_dir={self.empty}",
                    f"pam_service_name={self.pam}",
                    "use_localtime=NO",
                    "xferlog_enable=YES",
                    f"vsftpd_log_file={folder / 'vsftpd.log'}",
                    "",
                ]
            )
        )
        self.log = folder / "vsftpd.log"
        self.process = subprocess.Popen(["vsftpd", str(config)])
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("vsftpd did not start; see its log") from None
                time.sleep(0.1)

    @property
    def exports(self) -> Path:
        return self.home / "exports"

    def downloads(self) -> list[str]:
        """The paths vsftpd logged as downloaded ("OK DOWNLOAD"), in order."""
        if not self.log.exists():
            return []
        lines = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        return [line.split('"')[-2] for line in lines if "OK DOWNLOAD" in line and '"' in line]

    def conn(self) -> str:
        return json.dumps(
            {
                "conn_type": "ftp",
                "host": "127.0.0.1",
                "port": self.port,
                "login": self.user,
                "password": PASSWORD,
            }
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        (PAM_DIR / self.pam).unlink(missing_ok=True)
        subprocess.run(["userdel", "--remove", self.user], check=False, capture_output=True)
        shutil.rmtree(self._base, ignore_errors=True)
