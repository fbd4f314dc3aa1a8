"""Settings from a TOML file and the command line, for every logship tap.

Each service reads one TOML file (C{--config FILE}, docs/design.md
"Configuration") whose top-level keys are the service's long option names,
with dashes or underscores (C{bucket_seconds} or C{bucket-seconds}).  The
command line wins: an option given there ignores the file's value.  A key
the service does not know, a value of the wrong type, or a file that cannot
be read or parsed is a L{usage.UsageError} naming the file and the key, so
twistd prints one line and exits.

A tap's C{Options} derives from L{ConfigOptions} and calls
C{super().postOptions()} before checking its values::

    class Options(ConfigOptions):
        optParameters = [
            ["listen", None, "tcp:4401", "..."],
            ["bucket-seconds", None, 60, "...", int],
        ]
        optFlags = [["insecure", None, "..."]]
        config_paths = frozenset({"data", "key"})

        def postOptions(self) -> None:
            super().postOptions()
            ...

Value types follow the declarations: a flag takes a TOML boolean; a
parameter with a coerce function (C{int}, C{float}, any callable) takes a
string or number, passed through it as text; a parameter without one takes
a string.  An C{opt_NAME(value)} method (a repeatable option) takes a
string or an array of strings, one call each; one named in
C{config_tables} takes tables too (C{[[NAME]]}), each passed as a dict
(an error in one names the line of its C{[[NAME]]} header).  Names in C{config_paths}
are resolved relative to the TOML file's directory.  C{config_arguments}
names a key whose array of strings stands for the positional arguments
when the command line gives none (the tailer's files).
"""

from __future__ import annotations

import enum
import functools
import getopt
import re
import sys
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from twisted.python import reflect, usage

CONFIG_OPTION = "config"


class _Kind(enum.StrEnum):
    """
    The kinds of configurable options.
    """

    #: An C{optFlags} entry: on or off.
    FLAG = "flag"
    #: An C{optParameters} entry: one value.
    PARAMETER = "parameter"
    #: An C{opt_NAME(value)} method: called once per value.
    METHOD = "method"


@dataclass(frozen=True)
class _Declared:
    """
    How a configurable option takes its value.

    @ivar kind: which kind of option it is.
    @ivar function: a parameter's coerce function, if any; a method
        option's C{opt_NAME} function (called with the options and a value).
    """

    kind: _Kind
    function: Callable[..., Any] | None = None


class ConfigError(usage.UsageError):
    """
    A config file that cannot be taken: its message names the file (and
    the key); the file and the line it is about are also attributes, for
    a log line (a reload).

    @ivar path: the file.
    @ivar line: the line the error is on (1 for the first), if known.
    """

    def __init__(self, path: Path, message: str, line: int | None = None) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.line = line

    @classmethod
    def at_key(cls, path: Path, key: str, message: str) -> ConfigError:
        """
        An error about the setting C{key}: its line is the first that sets
        it at the top of the file (C{key =}, bare or quoted).
        """
        pattern = re.compile(rf"""\s*(?:{re.escape(key)}|"{re.escape(key)}"|'{re.escape(key)}')\s*=""")
        line = None
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                line = next((n for n, text in enumerate(f, 1) if pattern.match(text)), None)
        except OSError:
            pass
        return cls(path, message, line)

    @classmethod
    def at_table(cls, path: Path, key: str, index: int, message: str) -> ConfigError:
        """
        An error about the table C{index} (0 for the first) of the array
        of tables C{key}: its line is that of its C{[[key]]} header (else
        the line setting C{key}, for an inline array).
        """
        pattern = re.compile(
            rf"""\s*\[\[\s*(?:{re.escape(key)}|"{re.escape(key)}"|'{re.escape(key)}')\s*\]\]"""
        )
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                headers = [n for n, text in enumerate(f, 1) if pattern.match(text)]
        except OSError:
            headers = []
        if index < len(headers):
            return cls(path, message, headers[index])
        return cls.at_key(path, key, message)


def load_toml(path: Path) -> dict[str, Any]:
    """
    Read a TOML file.

    @return: its top-level table.
    @raise ConfigError: if it cannot be read or parsed.
    """
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise ConfigError(path, str(e.strerror)) from None
    except tomllib.TOMLDecodeError as e:
        at = re.search(r"at line (\d+)", str(e))
        raise ConfigError(path, f"not valid TOML: {e}", int(at.group(1)) if at else None) from None


def declared_options(options: usage.Options) -> dict[str, _Declared]:
    """
    The options of C{options} a config file may set, by long name: flags,
    parameters, and C{opt_} methods taking a value (not C{--config} itself,
    nor C{--help}/C{--version}).
    """
    found: dict[str, _Declared] = {}
    parameters: list[Sequence[Any]] = []
    reflect.accumulateClassList(type(options), "optParameters", parameters)
    for parameter in parameters:
        name = parameter[0]
        coerce = parameter[4] if len(parameter) > 4 else None
        found[name] = _Declared(_Kind.PARAMETER, coerce)
    flags: list[Sequence[Any]] = []
    reflect.accumulateClassList(type(options), "optFlags", flags)
    for flag in flags:
        found[flag[0]] = _Declared(_Kind.FLAG)
    # opt_NAME(value) methods; an alias (opt_b = opt_buck) counts once,
    # under its longest name.
    methods: dict[Any, str] = {}
    for attribute in dir(type(options)):
        function = getattr(type(options), attribute)
        code = getattr(function, "__code__", None)
        if attribute.startswith("opt_") and code is not None and code.co_argcount == 2:
            name = attribute[4:].replace("_", "-")
            if len(name) > len(methods.get(function, "")):
                methods[function] = name
    for function, name in methods.items():
        found.setdefault(name, _Declared(_Kind.METHOD, function))
    found.pop(CONFIG_OPTION, None)
    return found


def given_options(options: usage.Options, argv: Sequence[str]) -> set[str]:
    """
    The long names of the options given in C{argv}, as C{options} parses it.
    A command line it would refuse gives an empty set (the parser reports).
    """
    try:
        opts, _ = getopt.getopt(list(argv), options.shortOpt, options.longOpt)
    except getopt.error:
        return set()
    given = set()
    for opt, _ in opts:
        opt = opt[2:] if opt.startswith("--") else opt[1:]
        name = options.synonyms.get(opt) or options.synonyms.get(opt.replace("-", "_"))
        if name is not None:
            given.add(name.replace("_", "-"))
    return given


class ConfigOptions(usage.Options):
    """
    A tap's options with C{--config FILE} (see the module docstring).

    @ivar given: the long names given on the command line.
    @ivar config_file: the TOML file read, if any.
    @ivar argv: the command line parsed (to parse it again on a reload).
    """

    #: Options whose value is a path relative to the TOML file's directory.
    config_paths: ClassVar[frozenset[str]] = frozenset()
    #: A TOML key standing for the positional arguments, if the tap has any.
    config_arguments: ClassVar[str | None] = None
    #: Method options that take tables too (C{[[NAME]]}), passed as dicts.
    config_tables: ClassVar[frozenset[str]] = frozenset()

    optParameters: ClassVar[list[list[Any]]] = [
        [
            CONFIG_OPTION,
            "c",
            None,
            "Read settings from this TOML file; the command line wins over it.",
        ],
    ]

    def __init__(self) -> None:
        super().__init__()
        self.given: set[str] = set()
        self.config_file: Path | None = None
        self.arguments: list[str] = []
        self.argv: list[str] = []

    def parseOptions(self, options: Sequence[str] | None = None) -> None:
        argv = list(sys.argv[1:] if options is None else options)
        self.argv = argv
        self.given = given_options(self, argv)
        super().parseOptions(argv)

    def parseArgs(self, *args: str) -> None:
        if args and self.config_arguments is None:
            raise usage.UsageError(f"unexpected arguments: {' '.join(args)}")
        self.arguments = list(args)

    def postOptions(self) -> None:
        """
        Apply the config file, if one was given.
        """
        if self[CONFIG_OPTION] is not None:
            self.config_file = Path(self[CONFIG_OPTION])
            self.apply_config(self.config_file, load_toml(self.config_file))

    def apply_config(self, path: Path, table: dict[str, Any]) -> None:
        """
        Set the options of C{table} that the command line did not give.

        @param path: the file C{table} comes from (for messages and
            relative paths).
        @raise usage.UsageError: on an unknown key or a bad value.
        """
        declared = declared_options(self)
        arguments_key = self.config_arguments
        for key, value in table.items():
            name = key.replace("_", "-")
            if arguments_key is not None and name == arguments_key.replace("_", "-"):
                if not self.arguments:
                    self.arguments = [
                        self._path(path, name, v) for v in _strings(path, key, value)
                    ]
                continue
            how = declared.get(name)
            if how is None:
                known = sorted(declared) + ([arguments_key] if arguments_key else [])
                raise ConfigError.at_key(
                    path, key, f"unknown setting {key!r} (known: {', '.join(known)})"
                )
            if name in self.given:
                continue
            if how.kind is _Kind.FLAG:
                if type(value) is not bool:
                    raise ConfigError.at_key(path, key, f"{key} must be true or false")
                self[name] = 1 if value else 0
            elif how.kind is _Kind.METHOD:
                assert how.function is not None  # a method option always has one
                method = functools.partial(how.function, self)
                if name in self.config_tables and _has_tables(value):
                    self._tables(path, key, name, method, value)
                    continue
                for text in _strings(path, key, value):
                    self._call(path, key, method, self._path(path, name, text))
            else:
                self[name] = self._parameter(path, key, name, value, how.function)

    def _parameter(
        self,
        path: Path,
        key: str,
        name: str,
        value: Any,
        coerce: Callable[[str], Any] | None,
    ) -> Any:
        if coerce is None:
            if type(value) is not str:
                raise ConfigError.at_key(path, key, f"{key} must be a string")
            return self._path(path, name, value)
        if type(value) not in (str, int, float):
            raise ConfigError.at_key(path, key, f"{key} must be a string or a number")
        return self._call(path, key, coerce, str(value))

    def _path(self, path: Path, name: str, value: str) -> str:
        if name in self.config_paths:
            return str(path.parent / Path(value).expanduser())
        return value

    def _tables(
        self, path: Path, key: str, name: str, method: Callable[[Any], Any], value: list[Any]
    ) -> None:
        """
        Pass each table (or string) of C{value} to C{method}.
        """
        tables = 0
        for item in value:
            if type(item) is str:
                self._call(path, key, method, self._path(path, name, item))
                continue
            if type(item) is not dict:
                raise ConfigError.at_key(path, key, f"{key} must hold strings or tables")
            try:
                method(item)
            except (ValueError, TypeError, usage.UsageError) as e:
                raise ConfigError.at_table(path, key, tables, f"[[{key}]]: {e}") from None
            tables += 1

    @staticmethod
    def _call(path: Path, key: str, function: Callable[[str], Any], text: str) -> Any:
        try:
            return function(text)
        except (ValueError, TypeError, usage.UsageError) as e:
            raise ConfigError.at_key(path, key, f"{key} = {text!r}: {e}") from None


def _has_tables(value: Any) -> bool:
    """
    Whether C{value} is an array holding a table.
    """
    return type(value) is list and any(type(v) is dict for v in value)


def _strings(path: Path, key: str, value: Any) -> list[str]:
    if type(value) is str:
        return [value]
    if type(value) is list and all(type(v) is str for v in value):
        return list(value)
    raise ConfigError.at_key(path, key, f"{key} must be a string or an array of strings")
