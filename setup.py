"""Packaging for logship.

The twistd plugins live in the ``twisted.plugins`` namespace (no ``__init__.py``
there, as Twisted's plugin how-to asks).  Editable installs must use
``editable_mode=compat`` (or ``compat``): setuptools' default editable mode
hides ``twisted/plugins`` from Twisted's plugin scan.  The Makefile does that.

The compiled hot path (``logship.core._speedups``, docs/speedups.md) is built
with the machine's C compiler when there is one; when the build fails (no
compiler, no Python headers) the install goes on without it, says so, and
logship runs its pure-Python implementation.
"""

import sys
from pathlib import Path

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """
    Build the C extension if the machine can; otherwise say so and go on.
    """

    def run(self) -> None:
        try:
            super().run()
        except Exception as e:  # no compiler at all (DistutilsPlatformError ...)
            self._skipped(e)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as e:  # CompileError, LinkError, missing headers
            self._skipped(e)

    @staticmethod
    def _skipped(error: Exception) -> None:
        print(
            f"WARNING: logship's compiled hot path was not built ({error});"
            " logship will run its pure-Python implementation.",
            file=sys.stderr,
        )


setup(
    name="logship",
    version="0.1.0",
    description="Collect, store and use a year of event logs without losing one",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["logship", "logship.*"]) + ["twisted.plugins"],
    package_data={"twisted.plugins": ["logship_*.py"]},
    ext_modules=[
        Extension(
            "logship.core._speedups",
            ["logship/core/_speedups.c"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ],
    cmdclass={"build_ext": OptionalBuildExt},
    # The page archie serves (found beside the package in a source tree).
    data_files=[("share/logship/web", sorted(str(p) for p in Path("web").glob("*.*")))],
    install_requires=[
        "twisted[tls]>=24.3",
        "autobahn>=23.1",
        "pynacl>=1.5",
        "service-identity>=24.1",
        "msgpack>=1.0",
        "treq>=23.11",
        "zope.interface>=6.0",
        "botocore>=1.31",
        "prometheus_client>=0.20",
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-twisted>=1.14",
            "hypothesis>=6.100",
            "moto[server]>=5.0",
            "playwright>=1.40",  # browser tests, with Debian's chromium (no browser download)
            # the type check (mypy.ini); a newer mypy may find new things, so
            # it moves on purpose
            "mypy>=2.4,<2.5",
            "mypy-zope>=1.0.17",
            "matplotlib>=3.8",  # the experiments' plots (bench/experiments/, docs/experiments.md)
        ],
    },
    entry_points={"console_scripts": ["logship = logship.cli.main:main"]},
)
