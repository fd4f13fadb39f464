"""Benchmark: latent dimensions with a meaning (AR-VAE attribute regularisation, textvae.core.attributes).

    python scripts/bench_attributes.py [--only fashion|sentiment|sentiment-10pct|ptb-length ...]
                                       [--epochs-image 5] [--epochs-ptb 4] [--k 50]

Each row trains the same config twice with `textvae train` (into runs/attributes/<row>-ar and -base:
with and without loss.attributes; a folder already holding a finished run, marked DONE, is reused), then
measures on held-out data:
  SCC          Spearman correlation of the regularised z_r (posterior mean) with the attribute (test split);
  interp.      AR-VAE's interpretability (Adel et al. 2018): R^2 of a line a ~ z_r on the dimension of
               highest estimated mutual information with a (core.attributes.interpretability);
  base SCC     the best |SCC| of any dimension of the run without the regulariser;
  control      z_r swept over 9 values between the 5th and 95th percentiles of the test codes' z_r for 200
               test inputs: Spearman correlation of the set value with the attribute measured on the
               output (images: the measure on the mean image; length: words of the greedy decode;
               sentiment: P(pos) of the classifier);
  NLL          `textvae evaluate --iw-samples K` on the test split, both runs (K stated).
Sentiment (sentence-polarity, Pang and Lee 2005): a fixed 80/10/10 split of the 10,662 sentences
(numpy permutation, seed 0), labels neg/pos; the classifier is TF-IDF (words and bigrams, min_df 2,
sublinear tf) + logistic regression (C 4) trained on the training split only, its accuracy on the test
split stated. Flip: for the first 200 test sentences, z_r set to the mean z_r of the training sentences of
the other class (AR run), against the attribute vector (mean code of pos - mean code of neg training
sentences, added to neg and subtracted from pos) on the run without the regulariser; flip rate = share
of greedy decodes the classifier puts in the other class; self-BLEU = sacreBLEU corpus BLEU of the
decodes against the inputs. sentiment-10pct: the same with labels on a seeded 10% of the training rows.
Writes benchmarks/attributes.json and .md (rows merged by key) and benchmarks/attributes-fashion-mnist.png.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from benchlib import ROOT, shown, textvae  # scripts/ is on sys.path when a script here runs

RUNS = Path(os.environ.get("BENCH_ATTRIBUTES_RUNS", ROOT / "runs" / "attributes")).resolve()  # a dry run elsewhere
OUT = Path(os.environ.get("BENCH_ATTRIBUTES_OUT", ROOT / "benchmarks")).resolve()
POLARITY = ROOT.parent / "shared" / "data" / "sentence-polarity"


def log(msg: str) -> None:
    print(f"[{datetime.datetime.now(datetime.timezone.utc):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def run(args: list, commands: list) -> float:
    """Run `textvae ARGS` from the project root, its command line kept in `commands`; its wall time."""
    cmd = textvae(*args)
    commands.append(shown(cmd))
    log(commands[-1])
    t = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True)
    return time.perf_counter() - t


def train(out: Path, args: list, commands: list) -> dict:
    """Train into `out` unless a finished run is there (DONE); the train seconds from the log."""
    cmd = ["train", *args[:2], "--output-dir", out.relative_to(ROOT), *args[2:]]
    if (out / "DONE").exists():
        commands.append(shown(textvae(*cmd)))
        log(f"reusing {out}")
    else:
        if out.exists():
            sys.exit(f"bench_attributes: {out} holds an unfinished run; delete it or finish it with --resume")
        run(cmd, commands)
        (out / "DONE").write_text("finished\n")
    steps = [json.loads(line) for line in (out / "logs" / "train.jsonl").read_text().splitlines() if line.strip()]
    return {"steps": max(s.get("step", 0) for s in steps)}


def nll(model_dir: Path, k: int, commands: list, data: Path | None = None) -> dict:
    out = model_dir / f"test_eval_k{k}.json"
    args = ["evaluate", model_dir.relative_to(ROOT), "--iw-samples", k, "--output", out.relative_to(ROOT)]
    if data is not None:
        args += ["--data", data.relative_to(ROOT) if data.is_relative_to(ROOT) else data]
    if not out.exists():
        run(args, commands)
    else:
        commands.append(shown(textvae(*args)))
    return json.loads(out.read_text())


def sweep_values(z_r: np.ndarray, n: int = 9) -> list[float]:
    lo, hi = np.percentile(z_r, [5, 95])
    return np.linspace(lo, hi, n).tolist()


def encodable(models: list, texts: list[str]) -> np.ndarray:
    """Indices of the sentences every model can encode: not every word unknown to its vocabulary (PTB's
    "<unk> <unk>", a review of two rare names), which encode_sentences refuses. The rest are left out of
    the codes (their count is in the row)."""
    keep = [
        i for i, t in enumerate(texts) if all(any(x != m.config.unk_id for x in m.tokenizer.encode(t)) for m in models)
    ]
    return np.array(keep, dtype=int)


def subset(part: dict, keep: np.ndarray) -> dict:
    return {**part, "texts": [part["texts"][i] for i in keep], "labels": part["labels"][keep]}


def attribute_scores(codes, base_codes, a, dim) -> dict:
    from textvae.core.attributes import best_spearman, interpretability, spearman

    r, score = interpretability(codes, a)
    bd, bs = best_spearman(base_codes, a)
    _, bscore = interpretability(base_codes, a)
    return {
        "dim": dim,
        "scc": spearman(codes[:, dim], a),
        "interpretability": score,
        "interpretability_dim": r,
        "base_best_scc": bs,
        "base_best_scc_dim": bd,
        "base_interpretability": bscore,
    }


def delta_key(delta: float | None, weight: float | None = None) -> str:
    """The `, delta: D` (and `, weight: W`) of a row's loss.attributes items (nothing: the defaults)."""
    return (f", delta: {delta:g}" if delta else "") + (f", weight: {weight:g}" if weight is not None else "")


# -- Fashion-MNIST -----------------------------------------------------------------------------------
def fashion(
    opts, key: str = "fashion", delta: float | None = None, weight: dict | None = None, grey: bool = False
) -> dict:
    """grey: both arms on grey levels (binarize none, Gaussian likelihood), so the encoder reads the image the
    attributes are measured on, not a binarized sample of it."""
    from PIL import Image

    from textvae.commands import recorded_data_config
    from textvae.config import from_dict
    from textvae.core.attributes import spearman, traverse_codes
    from textvae.image.attributes import measure, traversal_grid
    from textvae.image.commands import pick_rows
    from textvae.image.data import ImageDataConfig, ImageDataset, load_splits
    from textvae.image.task import batcher
    from textvae.registry import load_model

    names = ["ink", "width", "slant"]
    weight = weight or {}
    sharp = {n: delta_key(delta, weight.get(n)) for n in names}
    attrs = "[" + ", ".join(f"{{name: {n}, dim: {d}{sharp[n]}}}" for d, n in enumerate(names)) + "]"
    common = [
        "--config",
        "configs/image/fashion-mnist.yaml",
        f"train.epochs={opts.epochs_image}",
        "train.progress_bar=false",
        *(["data.binarize=none", "model.likelihood=gaussian"] if grey else []),
    ]
    commands = []
    ar, base = RUNS / f"{key}-ar", RUNS / ("fashion-grey-base" if grey else "fashion-base")
    facts = {"ar": train(ar, [*common, f"loss.attributes={attrs}"], commands), "base": train(base, common, commands)}
    model, base_model = load_model(ar), load_model(base)
    cfg = from_dict(ImageDataConfig, {**recorded_data_config(ar), "val_size": 0, "max_train_examples": 0}, "data.")
    images, labels = load_splits(cfg).test
    test = ImageDataset(images, labels)
    inputs = batcher(test, cfg, model.config, train=False)(list(range(len(test))))["images"]  # fixed binarization
    with torch.no_grad():
        codes = model.encode_images(inputs).mean.numpy()
        base_codes = base_model.encode_images(inputs).mean.numpy()
    rows, grids = {}, []
    for d, name in enumerate(names):
        a = measure(images, name)
        row = attribute_scores(codes, base_codes, a, d)
        # how much of a's order the encoder's input itself carries (a binarized sample loses some)
        row["input_scc"] = spearman(measure((inputs * 255).round().to(torch.uint8), name), a)
        values = sweep_values(codes[:, d])
        z = torch.from_numpy(codes[:200])
        with torch.no_grad():
            out = model.decode_mean(traverse_codes(z, d, values).reshape(-1, z.shape[1]))  # (200 V, 1, 28, 28)
        measured = measure((out * 255).round().to(torch.uint8), name)
        row["control_spearman"] = spearman(np.tile(values, 200), measured)
        row["sweep"] = values
        rows[name] = row
        order = pick_rows(labels, 10)
        path = RUNS / f"grid-{key}-{name}.png"
        traversal_grid(
            model,
            inputs[order],
            d,
            values,
            path,
            shown=images[order].float() / 255,
            title=f"{name} (dim {d}) from {values[0]:.2f} to {values[-1]:.2f}; first column: the test image",
        )
        grids.append(path)
    ims = [Image.open(p).convert("RGB") for p in grids]
    sheet = Image.new("RGB", (max(i.width for i in ims), sum(i.height for i in ims)), "white")
    y = 0
    for im in ims:
        sheet.paste(im, (0, y))
        y += im.height
    sheet.save(OUT / ("attributes-fashion-mnist.png" if key == "fashion" else f"attributes-{key}.png"))
    cost = {arm: nll(folder, opts.k, commands)["nll"] for arm, folder in (("ar", ar), ("base", base))}
    return {
        "key": key,
        "model": "conv VAE (configs/image/fashion-mnist.yaml), dims 0-2: ink, width, slant"
        + (", grey levels (Gaussian likelihood)" if grey else "")
        + (f", delta {delta:g}" if delta else "")
        + "".join(f", {n} weight {w:g}" for n, w in weight.items()),
        "epochs": opts.epochs_image,
        "attributes": rows,
        "nll_k": opts.k,
        "nll_ar": cost["ar"],
        "nll_base": cost["base"],
        "train": facts,
        "commands": commands,
    }


# -- sentiment ---------------------------------------------------------------------------------------
def polarity_split() -> dict:
    """The fixed 80/10/10 split as CSV files (text,label) under runs/attributes/polarity/."""
    import csv

    from bench_encodings import load_polarity

    folder = RUNS / "polarity"
    folder.mkdir(parents=True, exist_ok=True)
    texts, y = load_polarity(POLARITY, None)
    order = np.random.default_rng(0).permutation(len(texts))
    n_train, n_valid = int(0.8 * len(texts)), int(0.1 * len(texts))
    parts = {"train": order[:n_train], "valid": order[n_train : n_train + n_valid], "test": order[n_train + n_valid :]}
    rng = np.random.default_rng(1)
    labelled = set(rng.permutation(parts["train"])[: len(parts["train"]) // 10].tolist())
    out = {}
    for name, idx in [*parts.items(), ("train-10pct", parts["train"])]:
        path = folder / f"{name}.csv"
        rows = [(texts[i], ("neg", "pos")[y[i]] if name != "train-10pct" or i in labelled else "") for i in idx]
        if path.exists():  # written once: a rerun keeps the files its trainings read
            out[name] = {"path": path, "texts": [r[0] for r in rows], "labels": np.array([y[i] for i in idx])}
            continue
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"])
            w.writerows(rows)
        out[name] = {"path": path, "texts": [r[0] for r in rows], "labels": np.array([y[i] for i in idx])}
    return out


def classifier(split):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    clf = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True), LogisticRegression(C=4.0, max_iter=2000)
    )
    clf.fit(split["train"]["texts"], split["train"]["labels"])
    return clf, float((clf.predict(split["test"]["texts"]) == split["test"]["labels"]).mean())


def flips(clf, inputs: list[str], outputs: list[str], target: np.ndarray) -> dict:
    import sacrebleu

    return {
        "flip_rate": float((clf.predict(outputs) == target).mean()),
        "self_bleu": float(sacrebleu.BLEU(force=True).corpus_score(outputs, [inputs]).score),
    }


def sentiment(opts, key: str = "sentiment") -> dict:
    from textvae.core.attributes import spearman
    from textvae.registry import load_model
    from textvae.text.attributes import traverse

    split = polarity_split()
    clf, acc = classifier(split)
    train_file = split["train-10pct" if key == "sentiment-10pct" else "train"]["path"]
    common = [
        "--config",
        "configs/text/snli-lstm.yaml",
        f"data.train_file={train_file.relative_to(ROOT)}",
        f"data.valid_file={split['valid']['path'].relative_to(ROOT)}",
        "train.progress_bar=false",
        "data.max_length=64",
    ]
    if opts.text_hidden:  # a smaller model than the config's 256 when compute is short (stated in the row)
        common += [
            f"model.embed_size={opts.text_hidden}",
            f"model.encoder.hidden_size={opts.text_hidden}",
            f"model.decoder.hidden_size={opts.text_hidden}",
        ]
    commands = []
    ar, base = RUNS / f"{key}-ar", RUNS / "sentiment-base"
    attrs = "[{name: sentiment, dim: 0, column: label, values: [neg, pos]}, {name: length, dim: 1}]"
    facts = {"ar": train(ar, [*common, f"loss.attributes={attrs}"], commands)}
    base_common = [
        c.replace(str(train_file.relative_to(ROOT)), str(split["train"]["path"].relative_to(ROOT))) for c in common
    ]
    facts["base"] = train(base, base_common, commands)
    model, base_model = load_model(ar), load_model(base)
    keep_test, keep_train = (encodable([model, base_model], split[p]["texts"]) for p in ("test", "train"))
    test, tr = subset(split["test"], keep_test), subset(split["train"], keep_train)
    codes, base_codes = (m.encode_sentences(test["texts"], batch_size=128).numpy() for m in (model, base_model))
    row = attribute_scores(codes, base_codes, test["labels"].astype(float), 0)
    row["left_out"] = {
        "test": len(split["test"]["texts"]) - len(keep_test),
        "train": len(split["train"]["texts"]) - len(keep_train),
    }
    gen = {"strategy": "greedy", "max_length": 65}
    n = 200
    inputs, labels = test["texts"][:n], test["labels"][:n]
    target = 1 - labels
    # AR: z_0 set to the mean z_0 of the other class's training sentences (of the labelled ones: 10% in 10pct)
    tr_codes = model.encode_sentences(tr["texts"], batch_size=128)
    known = tr["labels"].copy()
    if key == "sentiment-10pct":
        import csv

        with open(split["train-10pct"]["path"], encoding="utf-8") as f:
            cells = [r["label"] for r in csv.DictReader(f)]
        known = np.array([{"neg": 0, "pos": 1}.get(c, -1) for c in cells])[keep_train]
    means = [float(tr_codes[torch.from_numpy(known == c), 0].mean()) for c in (0, 1)]
    z = torch.from_numpy(codes[:n]).clone()
    z[:, 0] = torch.tensor([means[t] for t in target])
    ar_out = model.decode(z, **gen)
    # attribute vector on the run without the regulariser
    btr = base_model.encode_sentences(tr["texts"], batch_size=128)
    v = btr[torch.from_numpy(known == 1)].mean(0) - btr[torch.from_numpy(known == 0)].mean(0)
    sign = torch.from_numpy(np.where(target == 1, 1.0, -1.0)).float()[:, None]
    vec_out = base_model.decode(torch.from_numpy(base_codes[:n]) + sign * v, **gen)
    recon = model.decode(torch.from_numpy(codes[:n]), **gen)
    row["flip_ar"] = flips(clf, inputs, ar_out, target)
    row["flip_vector"] = flips(clf, inputs, vec_out, target)
    row["reconstruction"] = flips(clf, inputs, recon, labels)  # "flip rate" here: decodes kept in their class
    row["class_means_z0"] = means
    values = sweep_values(codes[:, 0])
    swept = traverse(model, inputs, 0, values, **gen)
    p_pos = clf.predict_proba([s for block in swept for s in block])[:, 1]
    row["control_spearman"] = spearman(np.tile(values, n), p_pos)
    row["sweep"] = values
    row["examples"] = [
        {"input": inputs[i], "label": ("neg", "pos")[labels[i]], "ar": ar_out[i], "vector": vec_out[i]}
        for i in range(3)
    ]
    # length on dim 1: SCC, the decoded length under a sweep of z_1, a traversal of three test sentences
    lengths = np.array([len(t.split()) for t in test["texts"]], dtype=float)
    lrow = attribute_scores(codes, base_codes, lengths, 1)
    lvalues = sweep_values(codes[:, 1])
    lswept = traverse(model, inputs, 1, lvalues, **gen)
    lrow["control_spearman"] = spearman(np.tile(lvalues, n), [len(s.split()) for block in lswept for s in block])
    lrow["sweep"] = lvalues
    lrow["traversals"] = [{"input": inputs[i], "decodes": lswept[i]} for i in range(3)]
    cost = {arm: nll(folder, opts.k, commands, test["path"])["nll"] for arm, folder in (("ar", ar), ("base", base))}
    return {
        "key": key,
        "model": "LSTM VAE (configs/text/snli-lstm.yaml) on sentence-polarity, dim 0: sentiment, dim 1: length"
        + (" (labels on 10% of the training rows)" if key == "sentiment-10pct" else ""),
        "epochs": None,  # the config's train.max_steps
        "text_hidden": opts.text_hidden or 256,
        "classifier_test_accuracy": acc,
        "attributes": {"sentiment": row, "length": lrow},
        "nll_k": opts.k,
        "nll_ar": cost["ar"],
        "nll_base": cost["base"],
        "train": facts,
        "commands": commands,
    }


# -- PTB length --------------------------------------------------------------------------------------
def ptb_length(opts, key: str = "ptb-length", delta: float | None = None, weight: float | None = None) -> dict:
    from textvae.core.attributes import spearman
    from textvae.registry import load_model
    from textvae.text.attributes import traverse
    from textvae.text.data import read_sentences

    common = ["--config", "configs/text/ptb-lstm.yaml", f"train.epochs={opts.epochs_ptb}", "train.progress_bar=false"]
    commands = []
    ar, base = RUNS / f"{key}-ar", RUNS / "ptb-length-base"
    sharp = delta_key(delta, weight)
    test_file = ROOT.parent / "shared" / "data" / "ptb" / "ptb.test.txt.gz"
    facts = {
        "ar": train(ar, [*common, f"loss.attributes=[{{name: length, dim: 0{sharp}}}]"], commands),
        "base": train(base, common, commands),
    }
    model, base_model = load_model(ar), load_model(base)
    texts, _ = read_sentences(test_file, what="PTB test")
    everything = len(texts)
    texts = [texts[i] for i in encodable([model, base_model], texts)]
    lengths = np.array([len(t.split()) for t in texts], dtype=float)
    codes, base_codes = (m.encode_sentences(texts, batch_size=128).numpy() for m in (model, base_model))
    row = attribute_scores(codes, base_codes, lengths, 0)
    row["left_out"] = {"test": everything - len(texts)}
    values = sweep_values(codes[:, 0])
    n = 200
    swept = traverse(model, texts[:n], 0, values, strategy="greedy", max_length=101)
    decoded = [len(s.split()) for block in swept for s in block]
    row["control_spearman"] = spearman(np.tile(values, n), decoded)
    row["sweep"] = values
    row["traversal"] = {"input": texts[0], "values": values, "decodes": swept[0]}
    cost = {arm: nll(folder, opts.k, commands, test_file)["nll"] for arm, folder in (("ar", ar), ("base", base))}
    return {
        "key": key,
        "model": "LSTM VAE (configs/text/ptb-lstm.yaml), dim 0: length in words"
        + (f", delta {delta:g}" if delta else "")
        + (f", weight {weight:g}" if weight is not None else ""),
        "epochs": opts.epochs_ptb,
        "attributes": {"length": row},
        "nll_k": opts.k,
        "nll_ar": cost["ar"],
        "nll_base": cost["base"],
        "train": facts,
        "commands": commands,
    }


def semi_length(opts) -> dict:
    """How few labels suffice: a small LSTM VAE on the shipped SNLI sample with the length read from a column
    where only a share of the rows has a value (the rest empty, seeded), SCC of z_0 on the shipped validation
    sentences."""
    import csv

    from textvae.core.attributes import spearman
    from textvae.registry import load_model
    from textvae.text.data import shipped_corpus

    texts = shipped_corpus("train").read_text(encoding="utf-8").splitlines()
    valid = shipped_corpus("valid").read_text(encoding="utf-8").splitlines()
    folder = RUNS / "semi-length"
    folder.mkdir(parents=True, exist_ok=True)
    valid_file = folder / "valid-1000.txt"  # validation in training; SCC on the other 9,000
    valid_file.write_text("\n".join(valid[:1000]) + "\n", encoding="utf-8")
    valid = valid[1000:]
    small = [
        "model.embed_size=64",
        "model.latent_size=16",
        "model.encoder.hidden_size=64",
        "model.decoder.hidden_size=64",
        "data.tokenizer.kind=word",
        f"train.max_steps={opts.semi_steps}",
        "train.progress_bar=false",
        "train.select_best=false",
        "train.batch_size=32",
    ]
    commands, rows = [], {}
    for share in (1.0, 0.1, 0.03, 0.01):
        path = folder / f"train-{share:g}.csv"
        keep = set(np.random.default_rng(0).permutation(len(texts))[: max(2, round(share * len(texts)))].tolist())
        if not path.exists():
            with open(path, "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(["text", "words"])
                w.writerows((t, len(t.split()) if i in keep else "") for i, t in enumerate(texts))
        out = folder / f"run-{share:g}"
        train(
            out,
            [
                "--config",
                "configs/text/snli-lstm.yaml",
                f"data.train_file={path.relative_to(ROOT)}",
                f"data.valid_file={valid_file.relative_to(ROOT)}",
                *small,
                "loss.attributes=[{name: length, dim: 0, column: words}]",
            ],
            commands,
        )
        z = load_model(out).encode_sentences(valid, batch_size=128).numpy()
        rows[f"{share:g}"] = {"labelled": len(keep), "scc_heldout": spearman(z[:, 0], [len(t.split()) for t in valid])}
    return {
        "key": "semi-length",
        "model": "LSTM VAE 64/64, latent 16, on the shipped SNLI sample, length from a partly filled column",
        "steps": opts.semi_steps,
        "sentences": len(texts),
        "shares": rows,
        "commands": commands,
    }


ROWS = {
    "fashion": fashion,
    "fashion-delta10": lambda o: fashion(o, "fashion-delta10", delta=10.0),
    "fashion-weight50": lambda o: fashion(o, "fashion-weight50", delta=10.0, weight={"width": 50.0, "slant": 50.0}),
    "fashion-grey": lambda o: fashion(o, "fashion-grey", delta=10.0, weight={"width": 50.0, "slant": 50.0}, grey=True),
    "sentiment": sentiment,
    "sentiment-10pct": lambda o: sentiment(o, "sentiment-10pct"),
    "ptb-length": ptb_length,
    "ptb-length-delta10": lambda o: ptb_length(o, "ptb-length-delta10", delta=10.0),
    "ptb-length-weight1": lambda o: ptb_length(o, "ptb-length-weight1", weight=1.0),
    "semi-length": semi_length,
}


def training(r: dict) -> str:
    """How long the regularised run trained: epochs (when the row set them) and steps."""
    steps = f"{r['train']['ar']['steps']:,} steps"
    return f"{r['epochs']} epochs, {steps}" if r.get("epochs") else steps


def write(rows: dict) -> None:
    meta = {
        "benchmark": "attribute-regularised latent dimensions (AR-VAE)",
        "machine": f"{platform.machine()}, "
        f"{platform.processor() or 'CPU'}, 2 cores shared with other jobs (times are not speed figures)",
        "rows": list(rows.values()),
    }
    (OUT / "attributes.json").write_text(json.dumps(meta, indent=2) + "\n")
    lines = [
        "# Attribute-regularised latent dimensions (AR-VAE, Pati and Lerch 2020)",
        "",
        "Written by `python scripts/bench_attributes.py`; the story and the pictures: docs/benchmarks/attributes.md.",
        (
            "SCC: Spearman correlation of z_r (posterior mean) with the attribute on the test split; interp.: AR-VAE's "
            "interpretability (R^2 of a ~ z_r on the dim of highest mutual information); base SCC: best |SCC| of any "
            "dim of the same config trained without the regulariser; control: Spearman of the swept z_r with the "
            "attribute of the outputs (200 test inputs x 9 values); NLL: test split, k stated."
        ),
        "",
        "| row | attribute | dim | SCC | interp. | base SCC | base interp. | control | NLL with / without (k) | training |",  # noqa: E501
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows.values():
        for name, a in r.get("attributes", {}).items():
            lines.append(
                f"| {r['key']} | {name} | {a['dim']} | {a['scc']:.3f} | {a['interpretability']:.3f} "
                f"(dim {a['interpretability_dim']}) | {a['base_best_scc']:.3f} (dim {a['base_best_scc_dim']}) | "
                f"{a['base_interpretability']:.3f} | {a['control_spearman']:.3f} | {r['nll_ar']:.2f} / "
                f"{r['nll_base']:.2f} ({r['nll_k']}) | {training(r)} |"
            )
    for r in rows.values():
        if r["key"].startswith("sentiment"):
            a = r["attributes"]["sentiment"]
            lines += [
                "",
                (
                    f"## {r['key']}: flips of the first 200 test sentences (classifier test accuracy "
                    f"{r['classifier_test_accuracy']:.3f})"
                ),
                "",
                "| method | flip rate | self-BLEU |",
                "|---|---|---|",
                f"| z_0 set to the other class's mean (AR run) | {a['flip_ar']['flip_rate']:.3f} | {a['flip_ar']['self_bleu']:.1f} |",  # noqa: E501
                f"| attribute vector (run without the regulariser) | {a['flip_vector']['flip_rate']:.3f} | {a['flip_vector']['self_bleu']:.1f} |",  # noqa: E501
                f"| plain reconstruction (AR run; share kept in its class) | {a['reconstruction']['flip_rate']:.3f} | {a['reconstruction']['self_bleu']:.1f} |",  # noqa: E501
            ]
    if "semi-length" in rows:
        r = rows["semi-length"]
        lines += [
            "",
            f"## Semi-supervised: length from a partly filled column ({r['model']}, {r['steps']} steps)",
            "",
            "| labelled rows | SCC of z_0 on 9,000 held-out sentences (shipped valid.txt after its first 1,000) |",
            "|---|---|",
            *[
                f"| {v['labelled']:,} of {r['sentences']:,} ({float(k):.0%}) | {v['scc_heldout']:.3f} |"
                for k, v in r["shares"].items()
            ],
        ]
    lines += ["", "## Commands", ""]
    for r in rows.values():
        lines += [f"{r['key']}:", "", *[f"    {c}" for c in r["commands"]], ""]
    (OUT / "attributes.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", action="append", choices=list(ROWS), help="rows to run (repeatable; default all)")
    p.add_argument("--epochs-image", type=int, default=5)
    p.add_argument("--epochs-ptb", type=int, default=4)
    p.add_argument(
        "--text-hidden", type=int, default=0, help="sentiment rows: embedding and LSTM size (0: the config's)"
    )
    p.add_argument("--k", type=int, default=50, help="importance samples of the test NLL")
    p.add_argument("--semi-steps", type=int, default=600, help="semi-length row: training steps")
    opts = p.parse_args()
    path = OUT / "attributes.json"
    rows = {r["key"]: r for r in json.loads(path.read_text())["rows"]} if path.exists() else {}
    for key in opts.only or list(ROWS):
        rows[key] = ROWS[key](opts)
        write(rows)
        log(f"row {key} written")


if __name__ == "__main__":
    main()
