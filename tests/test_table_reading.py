"""Users' CSV files read as they meant them (issue 26 items 3, 4 and 8): the header parsed like the rows,
values never reinterpreted silently, test files that do not match training, encodings.

Every test writes its own file. References: the values the test wrote (cell by cell), pandas'
own calendar arithmetic, the line numbers counted in the text the test built.
"""

import pytest

from dlnotes.collect import load_data
from dlnotes.config import validate
from dlnotes.data.table_source import csv
from dlnotes.errors import UserError

N = 40
X = [round(0.37 * i - 3.1 * (i % 5), 3) for i in range(N)]  # not increasing: never a row id
COLOURS = ["red", "green", "blue"]


def body(n: int = N, sep: str = ",") -> str:
    return "".join(sep.join([str(X[i]), COLOURS[i % 3], "ab"[i % 2]]) + "\n" for i in range(n))


def write(tmp_path, text: str, name: str = "d.csv", encoding: str = "utf-8"):
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def cfg(path=None, target="y", model="logistic_regression", **data):
    data = {"path": str(path), **data} if path is not None else data
    return validate({"name": "t", "seed": 0, "data": {"name": "csv", "target": target, "val_fraction": 0.0, **data},
                     "model": {"name": model}, "train": {"epochs": 3}})


# -- item 3: one parser for header and rows --------------------------------------------------------------

HEADERS = {
    "quoted newline": '"first\nname"',
    "form feed": "first\x0cname",
    "file separator": "first\x1cname",
    "group separator": "first\x1dname",
    "record separator": "first\x1ename",
    "NEL": "first\x85name",
    "U+2028": "first\u2028name",
    "header over 64 KiB": "x" * 70_000,
}


@pytest.mark.parametrize("case", HEADERS)
def test_header_cells_split_like_the_rows(tmp_path, case):
    """Each name stays one column over its own values (splitlines() of a 64 KiB head shifted them)."""
    head = HEADERS[case]
    path = write(tmp_path, f"{head},colour,y\n" + body())
    frame = csv(path=str(path), target="y").parts[0].frame
    name = head.replace('"', "")
    assert list(frame.columns) == [name, "colour", "y"]
    assert frame[name].tolist() == X and frame["colour"].tolist() == [COLOURS[i % 3] for i in range(N)]
    assert frame["y"].tolist() == ["ab"[i % 2] for i in range(N)]


def test_a_long_header_of_many_columns(tmp_path):
    names = [f"feature_{i:05d}" for i in range(6000)]  # 84 KB of header
    rows = "".join(",".join([str(i + k % 7) for k in range(6000)] + ["ab"[i % 2]]) + "\n" for i in range(12))
    frame = csv(path=str(write(tmp_path, ",".join(names) + ",y\n" + rows)), target="y").parts[0].frame
    assert frame.shape == (12, 6001) and frame["feature_05999"].tolist() == [i + 5999 % 7 for i in range(12)]


# -- item 4: values never reinterpreted silently ---------------------------------------------------------

@pytest.mark.parametrize("bad", ["1.2.3", "12%", "hello", "3\x00", "1,5"])
def test_a_stray_value_in_a_number_column_is_named(tmp_path, bad):
    """Before: the column turned into text and was dropped as an identifier (exit 0, feature lost)."""
    lines = body().splitlines(keepends=True)
    lines[6] = lines[6].replace(str(X[6]), f'"{bad}"', 1)  # data row 7 = line 8, a line below a quoted newline
    path = write(tmp_path, '"x\n(cm)",colour,y\n' + "".join(lines))
    with pytest.raises(UserError) as e:
        csv(path=str(path), target="y")
    message = str(e.value)
    assert f"'{path}' line 9, column 'x\\n(cm)': {bad!r} is not a number" in message, message
    assert "set data.columns.'x\\n(cm)': category" in message
    assert "\n" not in message


@pytest.mark.parametrize("form", ["{:,.1f}", "{:.0f}%", "${:.2f}"])
def test_a_column_of_numbers_in_another_form_is_refused_not_made_text(tmp_path, form):
    """1,234.5  12%  $5: a person reads numbers; dlnotes names the form instead of guessing, or of calling
    the column text (before: an identifier, left out, or a category of as many levels as values)."""
    text = "x,colour,y\n" + "".join(f'"{form.format(1000 + 1000 * abs(X[i]) + i)}",{COLOURS[i % 3]},{"ab"[i % 2]}\n'
                                    for i in range(N))
    with pytest.raises(UserError, match=r"line 2, column 'x': .* is not a number as written .* in a column of numbers "
                                        r"\(40 of its 40 filled cells are not\)"):
        csv(path=str(write(tmp_path, text)), target="y")


def test_decimal_commas_in_a_semicolon_file_are_numbers(tmp_path):
    text = "x;colour;y\n" + "".join(f"{str(X[i]).replace('.', ',')};{COLOURS[i % 3]};{'ab'[i % 2]}\n"
                                    for i in range(N))
    source = csv(path=str(write(tmp_path, text)), target="y")
    assert source.types["x"] == "number" and source.parts[0].frame["x"].tolist() == X


def test_missing_marks_in_a_number_column_read_as_missing_with_a_note(tmp_path, capsys):
    lines = body().splitlines(keepends=True)
    lines[3] = lines[3].replace(str(X[3]), "?", 1)
    source = csv(path=str(write(tmp_path, "x,colour,y\n" + "".join(lines))), target="y")
    assert source.types["x"] == "number"
    assert "column 'x': 1 x '?' read as missing" in capsys.readouterr().err


def test_a_text_value_in_the_test_target_never_turns_regression_into_classes(tmp_path):
    train = write(tmp_path, "x,y\n" + "".join(f"{X[i]},{i * 1.5 + 0.25}\n" for i in range(N)), "train.csv")
    test = write(tmp_path, "x,y\n1.0,2.5\n2.0,n.a.\n3.0,7.25\n", "test.csv")
    with pytest.raises(UserError, match=r"'.*test.csv' line 3, column 'y': 'n.a.' is not a number"):
        csv(train_path=str(train), test_path=str(test), target="y")


def test_a_text_value_in_a_numeric_target_is_named(tmp_path):
    text = "x,y\n" + "".join(f"{X[i]},{'six' if i == 5 else i * 1.5 + 0.25}\n" for i in range(N))
    with pytest.raises(UserError, match=r"line 7, target 'y': 'six' is not a number.*data.task: classification"):
        csv(path=str(write(tmp_path, text)), target="y")


def test_a_class_only_the_test_file_has_is_refused_with_its_count(tmp_path):
    train = write(tmp_path, "x,colour,y\n" + body(), "train.csv")
    test = write(tmp_path, "x,colour,y\n1,red,a\n2,red,c\n3,blue,c\n", "test.csv")
    with pytest.raises(UserError, match=r"2 row\(s\) of class\(es\) .* never has \('c': 2\)"):
        csv(train_path=str(train), test_path=str(test), target="y")


def test_unseen_test_words_are_counted_in_a_warning(tmp_path, capsys):
    """A category and a boolean word of the test file that training never saw: said, with counts; the
    unseen boolean counts as the most frequent level, the unseen category as no level (all zeros)."""
    flags = ["yes", "no", "no"]
    train = write(tmp_path, "x,colour,flag,y\n" + "".join(f"{X[i]},{COLOURS[i % 3]},{flags[i % 3]},{'ab'[i % 2]}\n"
                                                          for i in range(N)), "train.csv")
    test = write(tmp_path, "x,colour,flag,y\n1,red,yes,a\n2,purple,maybe,b\n3,pink,no,a\n", "test.csv")
    data = load_data(cfg(train_path=str(train), test_path=str(test)))
    err = capsys.readouterr().err
    assert "test.csv': 3 value(s) not seen in training, mapped to 'unknown': colour: 2 (e.g. 'purple'), " \
           "flag: 1 (e.g. 'maybe')" in err
    x = data.raw("test").x.numpy()
    outputs = data.preprocess["tabular"]["outputs"]
    assert x[1, outputs.index("flag=yes")] == 0  # 'no' is the most frequent
    assert x[1, [outputs.index(f"colour={c}") for c in sorted(COLOURS)]].tolist() == [0, 0, 0]


@pytest.mark.parametrize("row, fields", [("1.5,red", 2), ("1.5,red,a,extra", 4)])
def test_a_row_with_another_number_of_fields_is_named(tmp_path, row, fields):
    lines = body().splitlines(keepends=True)
    lines[9] = row + "\n"
    with pytest.raises(UserError, match=f"line 11 has {fields} fields, the header has 3"):
        csv(path=str(write(tmp_path, "x,colour,y\n" + "".join(lines))), target="y")


def test_a_longer_first_row_is_named_not_taken_as_the_index(tmp_path):
    lines = body().splitlines(keepends=True)
    lines[0] = lines[0].rstrip("\n") + ",7\n"
    with pytest.raises(UserError, match="line 2 has 4 fields, the header has 3"):
        csv(path=str(write(tmp_path, "x,colour,y\n" + "".join(lines))), target="y")


# -- item 8: encodings and trailing delimiters ----------------------------------------------------------

def test_a_bom_never_stays_in_the_first_name_whatever_the_encoding(tmp_path):
    text = "x,colour,y\n" + body().replace("red", "rouge é")
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("latin-1"))
    frame = csv(path=str(path), target="y", encoding="latin-1").parts[0].frame
    assert list(frame.columns) == ["x", "colour", "y"] and "rouge é" in frame["colour"].tolist()


def test_a_delimiter_at_the_end_of_every_line_is_no_column(tmp_path):
    text = "x,colour,y,\n" + body().replace("\n", ",\n")
    source = csv(path=str(write(tmp_path, text)), target="y")
    assert list(source.parts[0].frame.columns) == ["x", "colour", "y"] and set(source.types) == {"x", "colour"}
    text = "x,colour,y\n" + body().replace("\n", ",\n")  # only the rows end with one
    assert list(csv(path=str(write(tmp_path, text, "rows.csv")), target="y").parts[0].frame.columns) == \
        ["x", "colour", "y"]


def test_predict_reads_with_the_runs_encoding(tmp_path):
    from dlnotes.run import train

    text = "x,colour,y\n" + body().replace("red", "rouge é")
    path = write(tmp_path, text, "latin.csv", encoding="latin-1")
    run = train(cfg(path, encoding="latin-1"), out=tmp_path / "run", quiet=True)
    new = write(tmp_path, "x,colour\n1.5,rouge é\n-2,blue\n", "new.csv", encoding="latin-1")
    rows = run.predict(new)
    assert [r["input"] for r in rows] == ["0", "1"]  # before: "cannot read as utf-8; set data.encoding"

