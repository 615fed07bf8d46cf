"""Counting a CSV file's records and lines with the standard ``csv`` module: which line a record
starts on (for messages; quoted newlines and blank lines counted as the file has them) and whether
every record has the header's number of fields. Only run when a message needs a line, or when
pandas' reading leaves a doubt (``data.csv_read``): a pass in Python over the file.
"""

from __future__ import annotations

import codecs
import csv as csvlib
import io
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from dlnotes.errors import UserError

BOM = codecs.BOM_UTF8


@contextmanager
def _big_fields():
    """Fields of any length (a header cell over the csv module's 128 KiB default is no error)."""
    old = csvlib.field_size_limit()
    csvlib.field_size_limit(1 << 30)
    try:
        yield
    finally:
        csvlib.field_size_limit(old)


@dataclass
class Source:
    """Where a frame's rows come from: enough to read its lines again for a message."""

    path: str
    encoding: str
    delimiter: str
    bom: bool

    def text(self):
        """The file as text (the BOM skipped), as the ``csv`` module reads it."""
        f = open(self.path, "rb")
        if self.bom:
            f.seek(len(BOM))
        return io.TextIOWrapper(f, encoding=self.encoding, newline="")

    def as_attrs(self) -> dict[str, Any]:
        return {"path": self.path, "encoding": self.encoding, "delimiter": self.delimiter, "bom": self.bom,
                "decimal_comma": self.delimiter != ","}


def records(text: str, delimiter: str):
    """The non-blank records of ``text`` (blank: no field, or one of spaces: pandas skips those lines)."""
    with _big_fields():
        try:
            for rec in csvlib.reader(io.StringIO(text, newline=""), delimiter=delimiter):
                if rec and not (len(rec) == 1 and not rec[0].strip()):
                    yield rec
        except csvlib.Error:
            return


def check_fields(source: Source, k: int, where: str) -> None:
    """Exit 2 naming the first record whose field count is not the header's ``k`` (extra empty fields
    at the end of a record, a trailing delimiter, are fine)."""
    for line, rec in _numbered(source, where):
        if len(rec) < k or (len(rec) > k and any(c.strip() for c in rec[k:])):
            raise UserError(f"{where}: '{source.path}' line {line} has {len(rec)} fields, the header has {k}")


def _numbered(source: Source, where: str):
    """(first line, record) for each record of the file, the header included; blank lines skipped."""
    try:
        with _big_fields(), source.text() as f:
            reader = csvlib.reader(f, delimiter=source.delimiter)
            done = 0
            for rec in reader:
                start, done = done + 1, reader.line_num
                if rec and not (len(rec) == 1 and not rec[0].strip()):
                    yield start, rec
    except UnicodeDecodeError:
        raise UserError(f"{where}: cannot read '{source.path}' as {source.encoding} text") from None


def record_line(attrs: dict[str, Any], record: int) -> int:
    """The line where data record ``record`` (0 = the first after the header) starts in its file."""
    source = Source(attrs["path"], attrs["encoding"], attrs["delimiter"], attrs["bom"])
    try:
        for n, (line, _) in enumerate(_numbered(source, "data")):
            if n == record + 1:
                return line
    except (OSError, UserError):  # the file changed since: the record's number is the next best
        pass
    return record + 2
