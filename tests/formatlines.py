"""Example lines of the non-syslog shapes of L{logship.core.formats}, with their fields.

Made up for the tests, in the shapes real systems write (supercomputer
cluster logs, HealthApp, Android, Spark, Hadoop, OpenStack, Proxifier,
Windows CBS, macOS).  Read at L{NOW} in UTC; used by the parser, command and
tailer tests alike.
"""

from __future__ import annotations

from typing import NamedTuple

#: The reading time: 2023-11-20T00:00:00Z (years are inferred from it).
NOW = 1700438400.0


class Example(NamedTuple):
    """
    One line and what it must parse to.

    @ivar format: the name of its shape (a L{FORMAT_NAMES} entry).
    @ivar time: the ISO 8601 UTC time, as C{logship parse} shows it.
    @ivar host: the host it names, or C{None} (the configured host).
    @ivar severity: the syslog severity it states, or C{None}.
    """

    format: str
    line: bytes
    time: str
    host: str | None
    app: str
    pid: str | None
    severity: int | None
    message: str


EXAMPLES = [
    # cluster: alert tag, epoch, date, node, then syslog-like or BGL-like
    Example("cluster", b"- 1700000123 2023.11.14 cn-42 Nov 14 22:15:23 cn-42/cn-42 sshd[7311]:"
            b" Accepted publickey for ops", "2023-11-14T22:15:23.000000Z", "cn-42", "sshd",
            "7311", None, "Accepted publickey for ops"),
    Example("cluster", b"ECC 1700000124 2023.11.14 cn-7 Nov 14 14:15:24 cn-7/cn-7 kernel: EDAC MC0:"
            b" 1 CE error", "2023-11-14T22:15:24.000000Z", "cn-7", "kernel", None, 1,
            "EDAC MC0: 1 CE error"),
    Example("cluster", b"- 1700000125 2023.11.14 R02-M1-N0-C:J12-U11 2023-11-14-22.15.25.675872"
            b" R02-M1-N0-C:J12-U11 RAS KERNEL INFO instruction cache parity error corrected",
            "2023-11-14T22:15:25.675872Z", "R02-M1-N0-C:J12-U11", "KERNEL", None, 6,
            "instruction cache parity error corrected"),
    Example("cluster", b"KERNDTLB 1700000126 2023.11.14 R30-M0-N9-C:J16-U01"
            b" 2023-11-14-22.15.26.581048 R30-M0-N9-C:J16-U01 RAS KERNEL FATAL data TLB error",
            "2023-11-14T22:15:26.581048Z", "R30-M0-N9-C:J16-U01", "KERNEL", None, 2,
            "data TLB error"),
    Example("cluster", b"- 1700000127 2023.11.14 tbird-admin1 Nov 14 22:15:27 local@tbird-admin1"
            b" /apps/x86_64/sbin/gmetad[1682]: data_thread() got no answer",
            "2023-11-14T22:15:27.000000Z", "tbird-admin1", "/apps/x86_64/sbin/gmetad", "1682",
            None, "data_thread() got no answer"),
    Example("cluster", b"- 1700000128 2023.11.14 cn-42 something odd happened",
            "2023-11-14T22:15:28.000000Z", "cn-42", "", None, None, "something odd happened"),
    # pipe-separated, milliseconds padded or not
    Example("pipe", b"20231114-22:15:23:481|StepCounter|41200417|flushBatch 12",
            "2023-11-14T22:15:23.481000Z", None, "StepCounter", "41200417", None, "flushBatch 12"),
    Example("pipe", b"20231114-22:15:24:6|Step_LSC|30002312|onStandStepChanged 3579",
            "2023-11-14T22:15:24.006000Z", None, "Step_LSC", "30002312", None,
            "onStandStepChanged 3579"),
    Example("pipe", b"20231114-22:15:25:120|Step_SPUtils|30002312| setTodayTotalDetailSteps=15##7007",
            "2023-11-14T22:15:25.120000Z", None, "Step_SPUtils", "30002312", None,
            " setTodayTotalDetailSteps=15##7007"),
    # Android logcat (threadtime), with and without a year
    Example("logcat", b"11-14 22:15:23.481  2211  2290 I PowerManager: screen on by user",
            "2023-11-14T22:15:23.481000Z", None, "PowerManager", "2211", 6, "screen on by user"),
    Example("logcat", b"11-14 22:15:24.002  1702  2395 D WindowManager: wtoken = Token{a64f992}",
            "2023-11-14T22:15:24.002000Z", None, "WindowManager", "1702", 7, "wtoken = Token{a64f992}"),
    Example("logcat", b"11-14 22:15:25.100   612   612 W Tag     : padded tag",
            "2023-11-14T22:15:25.100000Z", None, "Tag", "612", 4, "padded tag"),
    Example("logcat", b"11-14 22:15:26.999 30002 30017 E AndroidRuntime: FATAL EXCEPTION: main",
            "2023-11-14T22:15:26.999000Z", None, "AndroidRuntime", "30002", 3,
            "FATAL EXCEPTION: main"),
    Example("logcat", b"2023-11-14 22:15:27.000  2211  2290 F libc: Fatal signal 6",
            "2023-11-14T22:15:27.000000Z", None, "libc", "2211", 2, "Fatal signal 6"),
    # log4j: yy/MM/dd (Spark), thread in brackets (Hadoop), pid (OpenStack)
    Example("log4j", b"23/11/14 22:15:23 WARN storage.BlockManager: Block rdd_7_3 evicted",
            "2023-11-14T22:15:23.000000Z", None, "storage.BlockManager", None, 4,
            "Block rdd_7_3 evicted"),
    Example("log4j", b"23/11/14 22:15:24 INFO executor.Backend: Registered for [TERM, HUP, INT]",
            "2023-11-14T22:15:24.000000Z", None, "executor.Backend", None, 6,
            "Registered for [TERM, HUP, INT]"),
    Example("log4j", b"23/11/14 22:15:28 Starting task 0.0",
            "2023-11-14T22:15:28.000000Z", None, "", None, None, "Starting task 0.0"),
    Example("log4j", b"2023-11-14 22:15:23,481 INFO [IPC Server handler 3] org.example.ipc.Server:"
            b" ready", "2023-11-14T22:15:23.481000Z", None, "org.example.ipc.Server", None, 6,
            "ready"),
    Example("log4j", b"2023-11-14 22:15:24,002 ERROR [main] org.apache.hadoop.MRAppMaster: Error"
            b" starting", "2023-11-14T22:15:24.002000Z", None, "org.apache.hadoop.MRAppMaster",
            "main", 3, "Error starting"),
    Example("log4j", b'2023-11-14 22:15:25.481 3121 WARNING neutron.agent [req-1] 10.0.0.5'
            b' "POST /v2.0/ports" status: 201', "2023-11-14T22:15:25.481000Z", None,
            "neutron.agent", "3121", 4, '[req-1] 10.0.0.5 "POST /v2.0/ports" status: 201'),
    Example("log4j", b"2023-11-14 22:15:26,000 DEBUG just a message with no logger",
            "2023-11-14T22:15:26.000000Z", None, "", None, 7, "just a message with no logger"),
    Example("log4j", b"2023-11-14 22:15:27,123 [pool-1-thread-2] TRACE com.example.Job - tick",
            "2023-11-14T22:15:27.123000Z", None, "com.example.Job", "pool-1-thread-2", 7, "tick"),
    Example("log4j", b"2023-11-14 22:15:29,500 CRITICAL  db.pool: exhausted",
            "2023-11-14T22:15:29.500000Z", None, "db.pool", None, 2, "exhausted"),
    # proxy: no year, no host
    Example("proxy", b"[11.14 22:15:23] firefox.exe - cdn.example.net:443 open through proxy"
            b" 10.1.2.3:3128 HTTPS", "2023-11-14T22:15:23.000000Z", None, "firefox.exe", None,
            None, "cdn.example.net:443 open through proxy 10.1.2.3:3128 HTTPS"),
    Example("proxy", b"[11.14 22:15:24] chrome.exe *64 - www.example.org:80 close, 1116 bytes sent",
            "2023-11-14T22:15:24.000000Z", None, "chrome.exe *64", None, None,
            "www.example.org:80 close, 1116 bytes sent"),
    Example("proxy", b"[11.14 22:15:25] Welcome to Proxifier v3.21 - the best",
            "2023-11-14T22:15:25.000000Z", None, "", None, None,
            "Welcome to Proxifier v3.21 - the best"),
    # Windows CBS
    Example("cbs", b"2023-11-14 22:15:23, Info                  CSI    Store corruption check done",
            "2023-11-14T22:15:23.000000Z", None, "CSI", None, 6, "Store corruption check done"),
    Example("cbs", b"2023-11-14 22:15:24, Warning               CBS    Failed to get state"
            b" [HRESULT = 0x800f0805]", "2023-11-14T22:15:24.000000Z", None, "CBS", None, 4,
            "Failed to get state [HRESULT = 0x800f0805]"),
    Example("cbs", b"2023-11-14 22:15:25, Error                 CSI    00000030 (F) STORE_CORRUPT",
            "2023-11-14T22:15:25.000000Z", None, "CSI", None, 3, "00000030 (F) STORE_CORRUPT"),
    Example("cbs", b"2023-11-14 22:15:26, Info                  00000001 no component",
            "2023-11-14T22:15:26.000000Z", None, "", None, 6, "00000001 no component"),
    # a file-name prefix, then a line
    Example("prefixed", b'neutron-server.log.2023-11-14 2023-11-14 22:15:23.481 3121 WARNING'
            b' neutron.agent [req-1] 10.0.0.5 "POST /v2.0/ports" status: 201',
            "2023-11-14T22:15:23.481000Z", None, "neutron.agent", "3121", 4,
            '[req-1] 10.0.0.5 "POST /v2.0/ports" status: 201'),
    Example("prefixed", b"nova-api.log.1.2023-11-14_13:53:08 2023-11-14 22:15:24.008 25746 INFO"
            b" nova.osapi_compute.wsgi.server [req-3 - - -] 10.11.10.1 \"GET /v2 HTTP/1.1\"",
            "2023-11-14T22:15:24.008000Z", None, "nova.osapi_compute.wsgi.server", "25746", 6,
            '[req-3 - - -] 10.11.10.1 "GET /v2 HTTP/1.1"'),
    Example("prefixed", b"app.log 2023-11-14T22:15:25Z web-1 nginx[12]: GET /",
            "2023-11-14T22:15:25.000000Z", "web-1", "nginx", "12", None, "GET /"),
    Example("prefixed", b"syslog.log Nov 14 22:15:26 web-2 cron[3]: job",
            "2023-11-14T22:15:26.000000Z", "web-2", "cron", "3", None, "job"),
    # macOS: a second bracketed part after app[pid]
    Example("macos", b"Nov 14 22:15:23 mbp-7 backupd[88] ([4410]): snapshot pruned after 3 attempts",
            "2023-11-14T22:15:23.000000Z", "mbp-7", "backupd", "88", None,
            "snapshot pruned after 3 attempts"),
    Example("macos", b"Nov 14 22:15:24 authorMacBook-Pro com.apple.xpc.launchd[1]"
            b" (com.apple.xpc.launchd.domain.pid.mdmclient.44128): Service only ran for 0 seconds.",
            "2023-11-14T22:15:24.000000Z", "authorMacBook-Pro", "com.apple.xpc.launchd", "1", None,
            "Service only ran for 0 seconds."),
    Example("macos", b"<13>Nov 14 22:15:25 mbp-7 mds[61] (Warning): no index",
            "2023-11-14T22:15:25.000000Z", "mbp-7", "mds", "61", 5, "no index"),
]  # fmt: skip

#: Lines of the C{hpc} shape, read as such only with the hint.
HPC_EXAMPLES = [
    Example("hpc", b"460 node-246 action start 1700000123 1 clusterAddMember (command 1902)",
            "2023-11-14T22:15:23.000000Z", "node-246", "action", None, None,
            "clusterAddMember (command 1902)"),
    Example("hpc", b"134681 node-246 unix.hw state_change.unavailable 1700000124 1 Component State"
            b" Change: unavailable (HWID=1973)", "2023-11-14T22:15:24.000000Z", "node-246",
            "unix.hw", None, None, "Component State Change: unavailable (HWID=1973)"),
    Example("hpc", b"2561 gige7 gige link 1700000125 0 Link error on broadcast tree",
            "2023-11-14T22:15:25.000000Z", "gige7", "gige", None, None,
            "Link error on broadcast tree"),
]  # fmt: skip
