"""A real rsyslogd for the syslog input's tests: a private config on 127.0.0.1.

L{Rsyslog} writes a config that reads one file (imfile) and forwards each
line over TCP with octet-counted framing (omfwd) to a port, with its own
work directory (imfile's state, the action's disk-assisted queue) and pid
file, and no system logging (no imuxsock, no imklog, no rules but the
forward).  It is started with C{-n} and stopped by its pid.  Debian's
package is installed when missing (as root), as the Makefile does.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

RSYSLOGD = "/usr/sbin/rsyslogd"

_CONFIG = """\
global(workDirectory="{work}" maxMessageSize="64k")
module(load="imfile" mode="inotify")
template(name="fwd" type="string" string="<%PRI%>1 %TIMESTAMP:::date-rfc3339% %HOSTNAME% %APP-NAME% - - - %msg%")
input(type="imfile" file="{input}" tag="app" ruleset="fwd" persistStateInterval="1"
      reopenOnTruncate="on")
ruleset(name="fwd") {{
  action(type="omfwd" target="127.0.0.1" port="{port}" protocol="tcp"
         tcp_framing="octet-counted" template="fwd"
         queue.type="LinkedList" queue.filename="fwd" queue.saveOnShutdown="on"
         action.resumeRetryCount="-1" action.resumeInterval="1")
}}
"""


def ensure_rsyslogd() -> str:
    """
    The path of rsyslogd, installed with apt-get when missing.
    """
    if not os.path.exists(RSYSLOGD):
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "rsyslog"],
            check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    return RSYSLOGD


class Rsyslog:
    """
    One rsyslogd forwarding C{input} to C{127.0.0.1:port}, in C{root}.
    """

    def __init__(self, root: Path, input: Path, port: int) -> None:
        self.root = root
        self.input = input
        self.port = port
        self.work = root / "work"
        self.work.mkdir(parents=True, exist_ok=True)
        self.config = root / "rsyslog.conf"
        self.config.write_text(_CONFIG.format(work=self.work, input=input, port=port))
        self.pid_file = root / "rsyslogd.pid"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """
        Start it in the foreground (C{-n}), its output in C{output.txt}.
        """
        executable = ensure_rsyslogd()
        subprocess.run([executable, "-N1", "-f", str(self.config)], check=True,
                       capture_output=True)
        with open(self.root / "output.txt", "ab") as output:
            self._process = subprocess.Popen(
                [executable, "-n", "-f", str(self.config), "-i", str(self.pid_file)],
                stdout=output, stderr=subprocess.STDOUT, cwd=self.root,
            )

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def output(self) -> str:
        return (self.root / "output.txt").read_text(errors="replace")

    def stop(self) -> None:
        """
        Stop it by its pid (SIGTERM, then SIGKILL after 10 s).
        """
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()

