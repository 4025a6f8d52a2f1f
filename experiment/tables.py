"""Strict reading of TOML tables: every key is checked, every unknown key is an error.

Researchers edit these files by hand, so a typo (``duraton_s``) must stop the program with
a sentence naming the file and the key, instead of silently falling back to a default.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import tomllib

from experiment.errors import ConfigError

_MISSING = object()


def load_toml(path: Path, what: str) -> dict[str, Any]:
    """Parse a TOML file, turning every failure into one ConfigError sentence."""
    if not path.is_file():
        raise ConfigError(f"{what} {path} does not exist: check the path and try again.")
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path} is not valid TOML ({err}): fix that line and try again.") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path} cannot be read ({err}): check the file.") from None


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []


def _header_lines(path: Path, header: str) -> list[int]:
    """1-based numbers of the lines holding exactly this [header] or [[header]]."""
    pattern = re.compile(r"^\s*" + re.escape(header) + r"\s*(#.*)?$")
    return [n + 1 for n, text in enumerate(_read_lines(path)) if pattern.match(text)]


class Table:
    """A TOML table being read; remembers which keys were used.

    Parameters
    ----------
    data : dict
        The parsed table.
    file : Path
        The file it came from (named in every error).
    path : str
        Dotted key path of this table inside the file ("" for the top level).
    """

    def __init__(self, data: dict[str, Any], file: Path, path: str = "", line: int | None = 0) -> None:
        self.data = data
        self.file = file
        self.path = path
        self.line = line  # 1-based line of this table's [header]; 0 for the top level
        self._used: set[str] = set()

    def key_path(self, key: str) -> str:
        if not key:
            return self.path
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, problem: str) -> ConfigError:
        line = self.line_of(key)
        where = f"{self.file}, line {line}" if line else str(self.file)
        return ConfigError(f"{where}: '{self.key_path(key)}' {problem}.")

    def line_of(self, key: str) -> int | None:
        """The line where ``key`` is set in this table, else the table's header line."""
        if self.line is None:
            return None
        lines = _read_lines(self.file)
        if key:
            assignment = re.compile(rf'^\s*"?{re.escape(key)}"?\s*=')
            for number in range(self.line, len(lines)):
                if lines[number].lstrip().startswith("["):
                    break
                if assignment.match(lines[number]):
                    return number + 1
            own_header = _header_lines(self.file, f"[{self.key_path(key)}]")  # a sub-table [a.key]
            if own_header:
                return own_header[0]
        return self.line or None

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        self._used.add(key)
        if key not in self.data:
            if default is _MISSING:
                raise self.error(key, "is missing: add it")
            return default
        return self.data[key]

    def str(self, key: str, default: Any = _MISSING, allow_empty: bool = False) -> Any:
        value = self.raw(key, default)
        if value is default and default is not _MISSING:
            return value
        if not isinstance(value, str):
            raise self.error(key, f"must be text in quotes, not {value!r}")
        if not allow_empty and not value.strip():
            raise self.error(key, "is empty: write the text it should hold")
        return value

    def bool(self, key: str, default: Any = _MISSING) -> Any:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, not {value!r}")
        return value

    def int(self, key: str, default: Any = _MISSING, low: int | None = None, high: int | None = None) -> Any:
        value = self.raw(key, default)
        if value is default and default is not _MISSING:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"must be a whole number, not {value!r}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise self.error(key, f"is {value}, outside {low}-{high}: choose a value in range")
        return value

    def positive(self, key: str, default: Any = _MISSING) -> Any:
        value = self.raw(key, default)
        if value is default and default is not _MISSING:
            return value
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise self.error(key, f"must be a positive number, not {value!r}")
        return float(value)

    def str_list(self, key: str, default: Any = _MISSING) -> Any:
        value = self.raw(key, default)
        if value is default and default is not _MISSING:
            return value
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.error(key, 'must be a list of texts, like ["a", "b"]')
        return tuple(value)

    def file_path(self, key: str, base: Path, default: Any = _MISSING) -> Any:
        """A path relative to ``base`` that must name an existing file."""
        value = self.str(key, default)
        if value is default and default is not _MISSING:
            return value
        resolved = (base / value).resolve()
        if not resolved.is_file():
            raise self.error(key, f"names {resolved}, which does not exist: add the file or fix the path")
        return resolved

    def table(self, key: str, required: bool = False) -> Table:
        value = self.raw(key, _MISSING if required else {})
        if not isinstance(value, dict):
            raise self.error(key, "must be a table ([section])")
        path = self.key_path(key)
        headers = _header_lines(self.file, f"[{path}]")
        return Table(value, self.file, path, headers[0] if headers else None)

    def table_list(self, key: str) -> list[Table]:
        value = self.raw(key)
        if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
            raise self.error(key, "must be one or more [[tables]]")
        headers = _header_lines(self.file, f"[[{self.key_path(key)}]]")
        lines = headers if len(headers) == len(value) else [None] * len(value)
        return [
            Table(v, self.file, f"{self.key_path(key)}[{i + 1}]", line)
            for i, (v, line) in enumerate(zip(value, lines, strict=True))
        ]

    def finish(self) -> None:
        """Raise on the first key that was never read (a typo or an unsupported setting)."""
        for key in self.data:
            if key not in self._used:
                raise self.error(key, "is not a known setting: check its spelling or remove it")
