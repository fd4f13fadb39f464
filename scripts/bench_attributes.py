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
split stated. Flips of 200 test sentences by the AR run's z_0 and by the attribute vector on the run
without the regulariser, from posterior means and from fitted codes: scripts/attributes_sentiment.py.
sentiment-10pct: the same with labels on a seeded 10% of the training rows.
Writes benchmarks/attributes.json and .md (rows merged by key) and benchmarks/attributes-fashion-mnist.png.
"""

from __future__ import annotations

import argparse
import json
import platform

import numpy as np
import torch
from attributes_sentiment import sentiment  # scripts/ is on sys.path when a script here runs
from attrlib import (
    OUT,
    ROOT,
    RUNS,
    attribute_scores,
    delta_key,
    encodable,
    log,
    nll,
    sweep_values,
    train,
)


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
    "sentiment-adversary": lambda o: sentiment(o, "sentiment-adversary", adversary=True),
    # a free-bits floor of 5 nats a dimension: the polarity default's code sits at its 160-nat budget
    "sentiment-budget5-adversary": lambda o: sentiment(
        o,
        "sentiment-budget5-adversary",
        adversary=True,
        extra=("loss.free_bits=5.0",),
        base_key="sentiment-budget5-base",
    ),
    "ptb-length": ptb_length,
    "ptb-length-delta10": lambda o: ptb_length(o, "ptb-length-delta10", delta=10.0),
    "ptb-length-weight1": lambda o: ptb_length(o, "ptb-length-weight1", weight=1.0),
    # delta 10 spaces the lengths evenly (interpretability 0.902) but squeezed z_0's variance at weight 10
    "ptb-length-delta10-weight1": lambda o: ptb_length(o, "ptb-length-delta10-weight1", delta=10.0, weight=1.0),
    # between weight 1 (no dial, no cost) and 10 (the dial, +2.2 nats at delta 1)
    "ptb-length-weight3": lambda o: ptb_length(o, "ptb-length-weight3", weight=3.0),
    "semi-length": semi_length,
}


def training(r: dict) -> str:
    """How long the regularised run trained: epochs (when the row set them) and steps."""
    steps = f"{r['train']['ar']['steps']:,} steps"
    return f"{r['epochs']} epochs, {steps}" if r.get("epochs") else steps


def sweep_table(sweep: list[dict]) -> list[str]:
    """The flips by starting code, method and strength (scripts/attributes_sentiment.py), a Markdown table."""
    how = {
        "reconstruction": "plain reconstruction (share kept in its class)",
        "ar": "z_0 at the other class's mean, {s:g} class distances beyond it (AR run)",
        "vector": "{s:g} x the attribute vector (run without the regulariser)",
    }
    lines = [
        "| starting code | method | flip rate | self-BLEU | self-BLEU, inputs as read | >= 70% at self-BLEU >= 30 |"
    ]
    lines.append("|---|---|---|---|---|---|")
    for r in sweep:
        met = "yes" if r["method"] != "reconstruction" and r["flip_rate"] >= 0.7 and r["self_bleu"] >= 30 else "-"
        lines.append(
            f"| {r['start']} | {how[r['method']].format(s=r['strength'] or 0)} | {r['flip_rate']:.3f} | "
            f"{r['self_bleu']:.1f} | {r['self_bleu_read']:.1f} | {met} |"
        )
    return lines


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
            if "flip_sweep" in a:
                lines += ["", *sweep_table(a["flip_sweep"])]
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
