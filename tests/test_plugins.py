"""The four twistd plugins are found after an editable and after a normal install."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = (b"logship-tailer", b"logship-buck", b"logship-porter", b"logship-archie")


class PluginDiscoveryTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)

    def assertListed(self, output: bytes) -> None:
        for name in PLUGINS:
            self.assertIn(name, output)

    def test_editable_install(self) -> None:
        """
        The test environment's own (editable) install: C{twistd --help}, run
        away from the source tree, lists all four plugins.
        """
        twistd = Path(sys.executable).parent / "twistd"
        result = subprocess.run(
            [str(twistd), "--help"], cwd=self.tmp, capture_output=True, timeout=60
        )
        self.assertListed(result.stdout)

    def test_normal_install(self) -> None:
        """
        A normal (non-editable) install of the package into a fresh directory,
        imported without the editable install's path hook, lists them too.
        """
        target = self.tmp / "site"
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
             "--no-build-isolation", "--target", str(target), str(ROOT)],
            check=True, capture_output=True, timeout=300,
        )
        code = (
            "import sys; sys.argv = ['twistd', '--help'];"
            "from twisted.scripts.twistd import run; run()"
        )
        # -S: no site module, so the editable install's .pth is not read.
        env = {**os.environ, "PYTHONPATH": f"{target}:{sysconfig.get_paths()['purelib']}"}
        result = subprocess.run(
            [sys.executable, "-S", "-c", code], cwd=self.tmp, env=env,
            capture_output=True, timeout=60,
        )
        self.assertListed(result.stdout)
        self.assertIn(str(target).encode(), subprocess.run(
            [sys.executable, "-S", "-c", "import logship; print(logship.__file__)"],
            cwd=self.tmp, env=env, capture_output=True, timeout=60,
        ).stdout)

    def test_usage_errors_are_clean(self) -> None:
        """
        Each service refuses a command line it cannot run with one line of
        reason and status 1, no traceback.
        """
        twistd = Path(sys.executable).parent / "twistd"
        for plugin, reason in (
            ("logship-porter", b"no --buck"),
            ("logship-tailer", b"no files to follow"),
            ("logship-buck", b"--key"),
            ("logship-archie", b"--index"),
        ):
            argv = [str(twistd), "-n", plugin]
            if plugin == "logship-archie":
                argv += ["--index", "mysql:nowhere"]
            result = subprocess.run(argv, cwd=self.tmp, capture_output=True, timeout=60)
            output = result.stdout + result.stderr
            self.assertEqual(result.returncode, 1, (plugin, output))
            self.assertIn(reason, output, plugin)
            self.assertNotIn(b"Traceback", output, plugin)
