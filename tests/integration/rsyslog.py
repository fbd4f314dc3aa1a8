"""A real rsyslogd for the syslog input's tests: a private config on 127.0.0.1.

L{Rsyslog} writes a config that reads one file (imfile) and forwards each
line over TCP with octet-counted framing (omfwd) or over RELP (omrelp) to a
port, with its own work directory (imfile's state, the action's
disk-assisted or disk queue) and pid file, and no system logging (no
imuxsock, no imklog, no rules but the forward).  It is started with C{-n}
and stopped (or killed) by its pid.  Debian's packages (rsyslog,
rsyslog-relp) are installed when missing (as root), as the Makefile does.
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
{modules}
ruleset(name="fwd") {{
  action({action} template="fwd"
         queue.type="{queue}" queue.filename="fwd" queue.saveOnShutdown="on"
         action.resumeRetryCount="-1" action.resumeInterval="1")
}}
"""

_ACTIONS = {
    "tcp": 'type="omfwd" target="127.0.0.1" port="{port}" protocol="tcp" tcp_framing="octet-counted"',
    # librelp's default window of 128 stalls on loopback (bench/peers.py)
    "relp": 'type="omrelp" target="127.0.0.1" port="{port}" windowSize="1024" timeout="10"',
}

#: Where Debian's rsyslog keeps its modules (omrelp comes with rsyslog-relp).
MODULES = Path("/usr/lib/x86_64-linux-gnu/rsyslog")


def ensure_rsyslogd(relp: bool = False) -> str:
    """
    The path of rsyslogd, installed with apt-get when missing (with
    rsyslog-relp for C{relp}).
    """
    packages = [] if os.path.exists(RSYSLOGD) else ["rsyslog"]
    if relp and not (MODULES / "omrelp.so").exists():
        packages.append("rsyslog-relp")
    if packages:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", *packages],
            check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    return RSYSLOGD


class Rsyslog:
    """
    One rsyslogd forwarding C{input} to C{127.0.0.1:port}, in C{root}.
    """

    def __init__(
        self, root: Path, input: Path, port: int, protocol: str = "tcp", queue: str = "LinkedList"
    ) -> None:
        """
        @param protocol: C{tcp} (omfwd, octet-counted) or C{relp} (omrelp).
        @param queue: the action queue's type: C{LinkedList} (in memory,
            to disk only when full or at shutdown) or C{Disk} (every
            message on disk first).
        """
        self.root = root
        self.input = input
        self.port = port
        self.relp = protocol == "relp"
        self.work = root / "work"
        self.work.mkdir(parents=True, exist_ok=True)
        self.config = root / "rsyslog.conf"
        self.config.write_text(_CONFIG.format(
            work=self.work, input=input, queue=queue,
            modules='module(load="omrelp")' if self.relp else "",
            action=_ACTIONS[protocol].format(port=port),
        ))
        self.pid_file = root / "rsyslogd.pid"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """
        Start it in the foreground (C{-n}), its output in C{output.txt}.
        """
        executable = ensure_rsyslogd(self.relp)
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

    def kill(self) -> None:
        """
        Kill it (SIGKILL) and wait for it to be gone.
        """
        process, self._process = self._process, None
        assert process is not None and process.poll() is None, "rsyslogd is not running"
        os.kill(process.pid, signal.SIGKILL)
        process.wait()

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

