"""Errors of the mainframe decoder: each names what went wrong and where."""

from __future__ import annotations


class MainframeError(Exception):
    """Base class of every error the mainframe package raises on purpose."""


class CopybookError(MainframeError):
    """A copybook clause is malformed or unsupported; the message names line and column."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None) -> None:
        self.line = line
        self.column = column
        where = f"line {line}, column {column}: " if line is not None else ""
        super().__init__(f"copybook {where}{message}")


class OptionError(MainframeError, ValueError):
    """A reader option has an unknown name (with pedantic=true) or a value that cannot be used."""


class DecodeError(MainframeError):
    """Data could not be framed or decoded; the message names file, record number, byte offset and field."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        record: int | None = None,
        offset: int | None = None,
        field: str | None = None,
    ) -> None:
        self.file = file
        self.record = record
        self.offset = offset
        self.field = field
        parts = []
        if file is not None:
            parts.append(f"file {file}")
        if record is not None:
            parts.append(f"record {record}")
        if offset is not None:
            parts.append(f"byte offset {offset}")
        if field is not None:
            parts.append(f"field {field}")
        where = (", ".join(parts) + ": ") if parts else ""
        super().__init__(f"{where}{message}")
