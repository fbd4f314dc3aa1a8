"""Packaging for logship.

The twistd plugins live in the ``twisted.plugins`` namespace (no ``__init__.py``
there, as Twisted's plugin how-to asks).  Editable installs must use
``editable_mode=compat`` (or ``compat``): setuptools' default editable mode
hides ``twisted/plugins`` from Twisted's plugin scan.  The Makefile does that.
"""

from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="logship",
    version="0.1.0",
    description="Collect, store and use a year of event logs without losing one",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["logship", "logship.*"]) + ["twisted.plugins"],
    package_data={"twisted.plugins": ["logship_*.py"]},
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
        ],
    },
    entry_points={"console_scripts": ["logship = logship.cli.main:main"]},
)
