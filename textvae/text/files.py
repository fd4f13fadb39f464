"""Reading sentences from local files: plain text (optionally gzip-compressed), JSON, JSON lines,
CSV and Parquet (through Hugging Face `datasets`, local files only, cached under HF_HOME), one column
of sentences.

Blank lines and empty cells are skipped and counted. Bytes that are not UTF-8 in a plain-text file
are decoded with replacement characters (U+FFFD) and counted with the first line affected, so a
mostly-good corpus still trains and the user sees the damage; a JSON or CSV file with such bytes is
refused, since its parser cannot repair them.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError

FORMATS = ("auto", "text", "json", "jsonl", "csv", "parquet")
_BY_SUFFIX = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}
_BUILDER = {"json": "json", "jsonl": "json", "csv": "csv", "parquet": "parquet"}


@dataclass
class ReadReport:
    """What reading a file found: rows read, blank rows skipped, rows with bytes that are not UTF-8."""

    path: str
    rows: int = 0
    blank: int = 0
    bad_utf8: int = 0
    first_bad_line: int = 0

    @property
    def kept(self) -> int:
        return self.rows - self.blank

    def describe(self, what: str = "read") -> str:
        text = f"{what}: {self.kept:,} sentences from {self.path}"
        if self.blank:
            text += f" ({self.blank:,} blank lines skipped)"
        if self.bad_utf8:
            were = "line was" if self.bad_utf8 == 1 else "lines were"
            text += (
                f"; WARNING: {self.bad_utf8:,} {were} not valid UTF-8 (first: line "
                f"{self.first_bad_line}), decoded with replacement characters"
            )
        return text


def detect_format(path: str | Path, fmt: str = "auto") -> str:
    return _BY_SUFFIX.get(Path(path).suffix.lower(), "text") if fmt == "auto" else fmt


def check_file(path: str | Path, what: str) -> Path:
    """`path` as a Path, or a UserError naming `what` (e.g. data.train_file) if it is no file."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{what}: {p} does not exist; check the path")
    if p.is_dir():
        raise UserError(f"{what}: {p} is a directory; give a file of sentences")
    return p


def read_lines(path: str | Path, what: str = "input") -> tuple[list[str], ReadReport]:
    """Every line of a text file, gzip-compressed if its name ends in .gz (line ends and a final
    newline removed), decoded as UTF-8 with replacement characters where the bytes are not UTF-8
    (counted in the report)."""
    p = check_file(path, what)
    raw = p.read_bytes()
    if p.suffix.lower() == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise UserError(f"{what}: {p} is not a readable gzip file ({e}); check the file") from None
    report = ReadReport(str(p))
    try:
        text = raw.decode("utf-8")
        lines = text.split("\n")
    except UnicodeDecodeError:
        lines = []
        for n, line in enumerate(raw.split(b"\n"), 1):
            try:
                lines.append(line.decode("utf-8"))
            except UnicodeDecodeError:
                lines.append(line.decode("utf-8", errors="replace"))
                report.bad_utf8 += 1
                report.first_bad_line = report.first_bad_line or n
    if lines and lines[-1] == "":
        lines.pop()
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    if lines and lines[0].startswith("\ufeff"):  # a byte-order mark is not part of the first sentence
        lines[0] = lines[0][1:]
    report.rows = len(lines)
    return lines, report


def read_sentences(
    path: str | Path, fmt: str = "auto", text_column: str = "text", what: str = "data.train_file"
) -> tuple[list[str], ReadReport]:
    """The non-blank sentences of a file, stripped of surrounding whitespace.

    Args:
        fmt: auto | text | json | jsonl | csv | parquet (see TextDataConfig).
        text_column: the column to read from JSON/CSV/Parquet.
        what: how the user named this file, for error messages (e.g. "data.valid_file").
    Raises:
        UserError: a missing file, a directory, an unreadable or empty file, a missing column.
    """
    p = check_file(path, what)
    kind = detect_format(p, fmt)
    if kind == "text":
        rows, report = read_lines(p, what)
    else:
        rows, report = _read_column(p, kind, text_column, what), ReadReport(str(p))
        report.rows = len(rows)
    sentences = [r.strip() for r in rows if r is not None and r.strip()]
    report.blank = report.rows - len(sentences)
    if not sentences:
        where = "only blank lines" if report.rows else "nothing"
        if kind != "text":
            where = f"no text in column '{text_column}'" if report.rows else "no rows"
        raise UserError(f"{what}: {p} holds {where}; give a file with one sentence a line")
    return sentences, report


def _read_column(path: Path, kind: str, column: str, what: str) -> list[str | None]:
    import datasets

    if kind != "parquet":
        _refuse_bad_utf8(path, kind, what)
    kwargs = {"keep_default_na": False} if kind == "csv" else {}  # a sentence "NA" stays a sentence
    if path.stat().st_size == 0:
        raise UserError(f"{what}: {path} is empty; give a file of sentences")
    try:
        ds = datasets.load_dataset(_BUILDER[kind], data_files=str(path), split="train", **kwargs)
    except Exception as e:  # the builders raise many types; the cause is the useful part
        cause = e.__cause__ or e
        detail = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
        raise UserError(
            f"{what}: could not read {path} as {kind} ({detail}); check the file or set data.format"
        ) from None
    if column not in ds.column_names:
        raise UserError(
            f"{what}: {path} has no column '{column}' (its columns: {', '.join(ds.column_names)}); set data.text_column"
        )
    dtype = getattr(ds.features[column], "dtype", None)
    if dtype not in ("string", "large_string", "null"):
        raise UserError(
            f"{what}: column '{column}' of {path} holds {dtype or ds.features[column]} values, not "
            f"text; set data.text_column to the column of sentences"
        )
    return list(ds[column])


def _refuse_bad_utf8(path: Path, kind: str, what: str) -> None:
    raw = path.read_bytes()
    try:
        raw.decode("utf-8")
        return
    except UnicodeDecodeError:
        pass
    bad = []
    for n, line in enumerate(raw.split(b"\n"), 1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            bad.append(n)
    lines = "line that is" if len(bad) == 1 else "lines that are"
    raise UserError(
        f"{what}: {path} has {len(bad)} {lines} not valid UTF-8 (first: line {bad[0]}); "
        f"a {kind} file must be UTF-8: convert it, e.g. `iconv -f latin1 -t utf-8`"
    )
