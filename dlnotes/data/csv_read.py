"""Reading a user's CSV file: the first of the table's steps (read -> type -> fit).

One parser reads the header and the rows: pandas' C reader (``read_csv``), which parses a million
rows with per-column type inference, NA words and quoting, and is what these users load their
tables with. So a header cell holding a quoted newline, a form feed, ``\\x1c``-``\\x1e``, NEL or
U+2028, or a header longer than any sample, is one column, exactly as the rows see it.

What pandas leaves open is settled here, each with a line number: the delimiter (``,``, ``;``, tab
or ``|``: the one that splits a sample of whole records into equal rows), a row with fewer or more
fields than the header (pandas pads the first silently and takes leading columns as the index for
the second), blank or duplicate column names, a UTF-8 BOM in a file read as latin-1, and numbers
written with decimal commas in a file that is not comma-separated. Counting fields and lines is
done by the standard ``csv`` module over the same bytes, only when pandas' answer is in doubt.
"""

from __future__ import annotations

import codecs
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from dlnotes.data.cells import DECIMAL_COMMA, q
from dlnotes.data.csv_lines import BOM, Source, check_fields, records
from dlnotes.errors import UserError

DELIMITERS = ",;\t|"
SAMPLE = 1 << 16  # bytes read to find the delimiter; grown until it holds a few whole records
MAX_SAMPLE = 1 << 26


def read_csv_file(path: str | Path, where: str, encoding: str = "utf-8", hint: str | None = None):
    """A user's CSV as a pandas DataFrame whose columns are the header's names, one per field.

    The frame's index numbers the data records from 0 and ``frame.attrs['source']`` says where they
    came from (``cells.line_of`` reads it). Exit 2 naming the file for a missing, empty or unreadable
    file, a header without rows, a blank or duplicate column name, or a row whose field count differs
    from the header's. ``hint``: what to do about an encoding error (default: set data.encoding).
    """
    from dlnotes.data.checks import regular_file

    path = regular_file(path, f"{where}:")
    source = _source(path, where, encoding, hint)
    try:
        frame = _rows(source, _header(source, where), where)
    except UnicodeDecodeError:
        raise UserError(f"{where}: cannot read '{source.path}' as {source.encoding} text; "
                        f"{hint or 'set data.encoding (e.g. latin-1)'}") from None
    frame.attrs["source"] = source.as_attrs()
    return _decimal_commas(frame) if source.delimiter != "," else frame


def _encoding(encoding: str) -> str:
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise UserError(f"data.encoding: unknown text encoding {q(encoding)} (e.g. utf-8, latin-1, cp1252)") from None
    return name


def _source(path: Path, where: str, encoding: str, hint: str | None) -> Source:
    """The file's encoding (a UTF-8 BOM is skipped whatever the encoding) and delimiter."""
    name = _encoding(encoding)
    with open(path, "rb") as f:
        bom = f.read(len(BOM)) == BOM and name not in ("utf-16", "utf-32")
    source = Source(str(path), "utf-8" if name == "utf-8-sig" else name, ",", bom)
    source.delimiter = sniff(_sample(source, where, hint))
    return source


def _sample(source: Source, where: str, hint: str | None) -> str:
    """The file's first whole lines (at least two records' worth, unless the file is shorter)."""
    size = SAMPLE
    while True:
        with open(source.path, "rb") as f:
            f.seek(len(BOM) if source.bom else 0)
            head = f.read(size + 1)
        whole = len(head) <= size
        if not whole:
            head = head[: head.rfind(b"\n") + 1] if b"\n" in head[:size] else head[:size]
        text = _decode(head, source, where, hint, strict=whole)  # a cut character at the end is no error
        if whole or size >= MAX_SAMPLE or len(list(records(text, ","))) > 2:
            break
        size *= 4
    if not text.strip():
        raise UserError(f"{where}: '{source.path}' is empty")
    return text


def _decode(data: bytes, source: Source, where: str, hint: str | None, strict: bool = True) -> str:
    try:
        return data.decode(source.encoding, errors="strict" if strict else "ignore")
    except UnicodeDecodeError:
        raise UserError(f"{where}: cannot read '{source.path}' as {source.encoding} text; "
                        f"{hint or 'set data.encoding (e.g. latin-1)'}") from None


def sniff(sample: str) -> str:
    """The delimiter among , ; tab | that splits the sample's records into the most equal fields
    (at least two); ',' when none does. The last record may be cut by the sample's end: not counted."""
    best, best_score = ",", (0, 0)
    for d in DELIMITERS:
        counts = [len(r) for r in records(sample, d)]
        counts = counts[:-1] if len(counts) > 2 else counts
        if not counts or counts[0] < 2:
            continue
        agree = sum(c == counts[0] for c in counts) / len(counts)
        score = (agree >= 0.9, counts[0] if agree >= 0.9 else agree)
        if score > best_score:
            best, best_score = d, score
    return best


def _pandas_options(source: Source) -> dict[str, Any]:
    return {"sep": source.delimiter, "encoding": source.encoding, "index_col": False, "engine": "c",
            "low_memory": False}


def _open(source: Source):
    f = open(source.path, "rb")
    if source.bom:
        f.seek(len(BOM))
    return f


def _header(source: Source, where: str) -> list[str]:
    """The header record's names, as the same parser splits it; blank ones named as pandas names them."""
    import pandas as pd

    with _open(source) as f:
        raw = pd.read_csv(f, header=None, nrows=1, dtype=str, na_filter=False, **_pandas_options(source))
    names = [str(v).strip() for v in raw.iloc[0].tolist()]
    seen = set()
    for i, h in enumerate(names):
        if h in seen:
            raise UserError(f"{where}: '{source.path}' has two columns named {q(h)}; rename one")
        seen.add(h)
    return [h or f"Unnamed: {i}" for i, h in enumerate(names)]


def _rows(source: Source, names: list[str], where: str):
    """The data records under ``names``; every record checked to have as many fields as the header
    (empty fields after the last one, a trailing delimiter, are allowed)."""
    import pandas as pd

    doubt = False
    try:
        with warnings.catch_warnings(record=True) as caught, _open(source) as f:
            warnings.simplefilter("always")
            frame = pd.read_csv(f, header=0, **_pandas_options(source))
        doubt = any(issubclass(w.category, pd.errors.ParserWarning) for w in caught)
    except pd.errors.EmptyDataError:
        raise UserError(f"{where}: '{source.path}' is empty") from None
    except pd.errors.ParserError as e:
        check_fields(source, len(names), where)
        raise UserError(f"{where}: cannot parse '{source.path}' as CSV ({str(e).strip().splitlines()[-1]})") from None
    if len(frame) == 0:
        raise UserError(f"{where}: '{source.path}' has a header but no data rows")
    if doubt or frame.iloc[:, -1].isna().any():  # a short row leaves its last cells missing
        check_fields(source, len(names), where)
    frame.columns = names
    blank = [c for i, c in enumerate(names) if c == f"Unnamed: {i}" and frame[c].isna().all()]
    return frame.drop(columns=blank) if blank else frame  # a delimiter at the end of every line


def _decimal_commas(frame):
    """Text columns of numbers written with a decimal comma (``1,5``) become numbers; a column with any
    other text stays text (the typing step names the cell)."""
    import pandas as pd

    for c in frame.columns:
        col = frame[c]
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            continue
        text = col.dropna().astype(str).str.strip()
        text = text[text != ""]
        if len(text) and text.str.fullmatch(DECIMAL_COMMA.pattern).any():
            fixed = text.str.replace(",", ".", regex=False)
            values = pd.to_numeric(fixed, errors="coerce")
            if values.notna().all():
                out = np.full(len(col), np.nan)
                out[frame.index.get_indexer(values.index)] = values.to_numpy(dtype=np.float64)
                frame[c] = out
    return frame
