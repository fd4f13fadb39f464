"""The latent map of sentences: `textvae map` for text models, the map after training, the nearest
sentences in code space. Drawing and projecting are textvae.latent_map's, shared with images.

    rows = read_rows("polarity.csv", "text")                  # sentences and the file's other columns
    m = sentence_map(model, rows.texts, method="pca")          # posterior means, projected
    m.draw("map.png", "polarity", categories=rows.columns["label"])
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..commands import output_path, recorded_data_config
from ..errors import UserError
from ..latent_map import (
    Marks,
    Projection,
    choose_points,
    draw_map,
    is_categorical,
    nearest_codes,
    project,
    spread_points,
    write_points,
)

NOTES = 8  # sentences written on a map
NOTE_WORDS = 8  # only sentences this short are written on it
NOTE_CHARS = 48


@dataclass
class Rows:
    """The sentences of a data file and, for CSV/JSONL/parquet, its other columns, row for row."""

    path: str
    texts: list[str]
    columns: dict[str, list] = field(default_factory=dict)
    index: list[int] = field(default_factory=list)  # each sentence's row in the file (0-based)


def read_rows(path: str | Path, text_column: str = "text", fmt: str = "auto", what: str = "--data") -> Rows:
    """Non-blank sentences of `path` with the values of the file's other columns in the same rows."""
    from .files import _BUILDER, _read_column, check_file, detect_format, read_lines

    p = check_file(path, what)
    kind = detect_format(p, fmt)
    if kind == "text":
        lines, _ = read_lines(p, what)
        kept = [i for i, t in enumerate(lines) if t.strip()]
        rows = Rows(str(p), [lines[i].strip() for i in kept], {}, kept)
    else:
        import datasets

        texts = _read_column(p, kind, text_column, what)  # its checks: readable, UTF-8, the column holds text
        kwargs = {"keep_default_na": False} if kind == "csv" else {}
        ds = datasets.load_dataset(_BUILDER[kind], data_files=str(p), split="train", **kwargs)
        kept = [i for i, t in enumerate(texts) if t is not None and t.strip()]
        columns = {c: [ds[c][i] for i in kept] for c in ds.column_names if c != text_column}
        rows = Rows(str(p), [texts[i].strip() for i in kept], columns, kept)
    if not rows.texts:
        raise UserError(f"{what}: {p} holds no sentences")
    return rows


def encodable(model, texts: list[str]) -> list[int]:
    """Indices of the sentences the model can encode (some word known to its vocabulary)."""
    tok = model.tokenizer
    keep = []
    for i, t in enumerate(texts):
        ids = tok.encode(t) if t.strip() else []
        if ids and not all(x == tok.unk_id for x in ids):
            keep.append(i)
    return keep


@dataclass
class SentenceMap:
    """Sentences, their posterior means (N, D) and the 2-D projection of those."""

    texts: list[str]
    proj: Projection

    @property
    def codes(self) -> np.ndarray:
        return self.proj.codes

    def notes(self, k: int = NOTES) -> dict[int, str]:
        """Up to k short sentences spread over the map, to be written beside their points."""
        short = [i for i, t in enumerate(self.texts) if len(t.split()) <= NOTE_WORDS]
        chosen = spread_points(self.proj.xy, short or range(len(self.texts)), k)
        return {i: _short(self.texts[i]) for i in chosen}

    def draw(
        self,
        path,
        title: str,
        categories=None,
        values=None,
        value_name: str = "",
        marks: Marks | None = None,
        notes: int = NOTES,
    ):
        return draw_map(
            self.proj,
            path,
            title,
            categories=categories,
            values=values,
            value_name=value_name,
            notes=self.notes(notes),
            marks=marks,
        )

    def neighbours(self, code, k: int = 5) -> dict[str, list[tuple[str, float]]]:
        """The k sentences nearest to a code (D,): by cosine similarity of the codes centred on the mean
        code of the map's sentences (raw codes share a large common part, and their cosines are all near
        1), and by Euclidean distance."""
        centre = self.codes.mean(0)
        code = np.asarray(code, dtype=np.float64)
        return {
            "cosine": [(self.texts[i], s) for i, s in nearest_codes(self.codes - centre, code - centre, k)],
            "euclidean": [(self.texts[i], s) for i, s in nearest_codes(self.codes, code, k, "euclidean")],
        }


def sentence_map(model, texts: list[str], method: str = "pca", seed: int = 0, batch_size: int = 256) -> SentenceMap:
    """Posterior means of `texts` (every one must be encodable: see `encodable`) projected to 2-D."""
    codes = model.encode_sentences(list(texts), batch_size=batch_size).float().cpu().numpy()
    return SentenceMap(list(texts), project(codes, method, seed))


def _short(text: str) -> str:
    return text if len(text) <= NOTE_CHARS else text[: NOTE_CHARS - 1] + "…"


def lengths(texts: list[str]) -> np.ndarray:
    """Words of each sentence (split on whitespace), the `length` colouring."""
    from .attributes import computed_values

    return computed_values(texts, "length")


def validation_map(model, texts: list[str], folder, max_points: int = 5000, seed: int = 0) -> list[Path]:
    """latent_map.png (PCA, coloured by length in words) and latent_map.csv of up to max_points of the
    validation sentences, into the model folder after training."""
    keep = encodable(model, texts)
    keep = [keep[i] for i in choose_points(len(keep), max_points, seed)]
    if len(keep) < 2:
        return []
    texts = [texts[i] for i in keep]
    m = sentence_map(model, texts, "pca", seed)
    folder = Path(folder)
    n_words = lengths(texts)
    m.draw(
        folder / "latent_map.png",
        f"Posterior means of {len(texts):,} validation sentences",
        values=n_words,
        value_name="sentence length (words)",
    )
    write_points(folder / "latent_map.csv", m.proj, {"length": n_words.astype(int).tolist(), "text": texts})
    return [folder / "latent_map.png", folder / "latent_map.csv"]


def colouring(args, model, rows: Rows, texts: list[str], keep: list[int], codes: np.ndarray | None) -> dict:
    """What colours the map, from --column, --color or --attribute (default: length in words):
    {"name", "categories" or "values"}; with codes None (not yet encoded) only the options are checked."""
    chosen = [o for o in ("column", "color", "attribute") if getattr(args, o, None)]
    if len(chosen) > 1:
        raise UserError(f"colour the map by one thing: give one of --{', --'.join(chosen)}")
    if getattr(args, "attribute", None):
        from ..core.attributes import resolve_dim

        dim = resolve_dim(model.attributes, model.latent_size, name=args.attribute)
        return {"name": f"z[{dim}] ({args.attribute})", "values": None if codes is None else codes[:, dim]}
    if getattr(args, "column", None):
        name = args.column
        if name not in rows.columns:
            have = ", ".join(rows.columns) or "none: it is plain text; give a CSV, JSONL or parquet file"
            raise UserError(f"--column: {rows.path} has no column {name!r} (its other columns: {have})")
        cells = [rows.columns[name][i] for i in keep]
        if is_categorical(cells):
            return {"name": name, "categories": ["" if c is None else str(c) for c in cells]}
        return {"name": name, "values": np.array([np.nan if c is None else float(c) for c in cells])}
    from .attributes import TEXT_ATTRIBUTES, computed_values

    name = getattr(args, "color", None) or "length"
    if name not in TEXT_ATTRIBUTES:
        raise UserError(
            f"--color {name!r}: the computed colourings are {', '.join(TEXT_ATTRIBUTES)}; "
            f"for a column of the file use --column NAME"
        )
    label = "sentence length (words)" if name == "length" else name
    return {"name": name, "label": label, "values": computed_values(texts, name)}


def map_verb(args) -> None:
    """`textvae map` for a text model: the PNG, the CSV beside it, and --neighbours on stdout."""
    from ..registry import load_model

    out = output_path(args.output or "map.png", "--output")
    if out.suffix.lower() != ".png":
        raise UserError(f"--output: {out} should end in .png")
    recorded = recorded_data_config(args.model_dir)
    data = args.data or recorded.get("train_file")
    if not data:
        raise UserError(
            f"give the sentences to map with --data FILE ({args.model_dir}/train_config.yaml records no training file)"
        )
    text_column = args.text_column or recorded.get("text_column", "text")
    rows = read_rows(data, text_column)
    model = load_model(args.model_dir)
    if model.encoder is None:
        raise UserError(f"{args.model_dir} is a language model (no encoder): it has no codes to map")
    keep = encodable(model, rows.texts)
    skipped = len(rows.texts) - len(keep)
    keep = [keep[i] for i in choose_points(len(keep), args.max_points, args.seed)]
    texts = [rows.texts[i] for i in keep]
    if len(texts) < 2:
        raise UserError(f"--data: {data} has {len(texts)} sentence(s) the model can encode; a map needs 2 or more")
    colouring(args, model, rows, texts, keep, None)  # bad colour options fail before the work
    print(
        f"encoding {len(texts):,} sentences of {data}"
        + (f" ({skipped} with only unknown words skipped)" if skipped else ""),
        file=sys.stderr,
    )
    m = sentence_map(model, texts, args.method, args.seed)
    colour = colouring(args, model, rows, texts, keep, m.codes)
    marks = Marks()
    if args.neighbours:
        query = model.encode_sentences([args.neighbours]).float().cpu().numpy()[0]
        _print_neighbours(args.neighbours, m.neighbours(query, args.k), len(texts), data)
        marks.stars.append((*_placed(m.proj, query), _short(args.neighbours)))
    m.draw(
        out,
        f"Posterior means of {len(texts):,} sentences of {Path(data).name}",
        categories=colour.get("categories"),
        values=colour.get("values"),
        value_name=colour.get("label", colour["name"]),
        marks=marks,
    )
    csv_path = out.with_suffix(".csv")
    shown = colour.get("categories", colour.get("values"))
    write_points(csv_path, m.proj, {"row": [rows.index[i] for i in keep], colour["name"]: list(shown), "text": texts})
    print(f"wrote {out} and {csv_path} ({len(texts):,} points, {m.proj.note})", file=sys.stderr)


def _placed(proj: Projection, code: np.ndarray) -> tuple[float, float]:
    """Where a new code falls on the map: PCA projects it; t-SNE and UMAP place it at its nearest point."""
    if proj.method == "latent":
        return float(code[0]), float(code[1])
    if proj.method == "pca":
        x, y = (code - proj.mean) @ proj.components.T
        return float(x), float(y)
    i = nearest_codes(proj.codes, code, 1, "euclidean")[0][0]
    return float(proj.xy[i, 0]), float(proj.xy[i, 1])


def _print_neighbours(sentence: str, found: dict, n: int, data) -> None:
    print(f"nearest of {n:,} sentences of {data} to {sentence!r} in code space (posterior means):")
    for metric, heading in (
        ("cosine", "cosine similarity, codes centred on their mean (higher is nearer)"),
        ("euclidean", "Euclidean distance (lower is nearer)"),
    ):
        print(f"  by {heading}:")
        for text, score in found[metric]:
            print(f"    {score:8.4f}  {text}")
