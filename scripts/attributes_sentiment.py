"""The sentiment rows of scripts/bench_attributes.py: sentence-polarity (Pang and Lee 2005) in a fixed
80/10/10 split, a TF-IDF classifier as the judge, sentiment on z_0 and length on z_1 of the LSTM default.

Flips, for the first 200 test sentences, from two starting codes: the posterior means, and the codes
fitted to their sentences (25 Adam steps on log p(x|z), what `textvae reconstruct` does). AR run: z_0 set
to the other class's mean z_0 over the training sentences, then pushed past it by `strength` times the
distance between the two class means. Baseline: the attribute vector (mean code of pos minus mean code of
neg training sentences) times `scale`, added to neg and subtracted from pos codes of the run without the
regulariser. Flip rate: share of greedy decodes the classifier puts in the other class; self-BLEU:
sacreBLEU corpus BLEU of the decodes against the inputs."""

from __future__ import annotations

import numpy as np
import torch
from attrlib import POLARITY, ROOT, RUNS, attribute_scores, encodable, nll, subset, sweep_values, train

from textvae.text.faithfulness import as_read

FIT_STEPS = 25  # textvae.text.sentences.FIT_STEPS: what reconstruct and interpolate do
STRENGTHS = (0.0, 1.0, 2.0)  # z_0 past the other class's mean, in distances between the class means
SCALES = (1.0, 2.0, 4.0)  # multiples of the attribute vector
GEN = {"strategy": "greedy", "max_length": 65}


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


def flips(clf, inputs: list[str], outputs: list[str], target: np.ndarray, read: list[str]) -> dict:
    """Flip rate and self-BLEU against the inputs; also against the inputs as the model's vocabulary reads
    them (`read`: lower-cased, unknown words as <unk>), what a perfect reconstruction would print."""
    import sacrebleu

    return {
        "flip_rate": float((clf.predict(outputs) == target).mean()),
        "self_bleu": float(sacrebleu.BLEU(force=True).corpus_score(outputs, [inputs]).score),
        "self_bleu_read": float(sacrebleu.BLEU(force=True).corpus_score(outputs, [read]).score),
    }


def sentiment(
    opts, key: str = "sentiment", adversary: bool = False, extra: tuple[str, ...] = (), base_key: str = "sentiment-base"
) -> dict:
    """A sentiment row: the shipped LSTM config (with `extra` overrides in both arms) trained on the polarity
    split with and without loss.attributes (the run without it in runs/attributes/`base_key`); `adversary`:
    an adversary of weight 10 on the sentiment dimension."""
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
        *extra,
    ]
    if opts.text_hidden:  # a smaller model than the config's 256 when compute is short (stated in the row)
        common += [
            f"model.embed_size={opts.text_hidden}",
            f"model.encoder.hidden_size={opts.text_hidden}",
            f"model.decoder.hidden_size={opts.text_hidden}",
        ]
    commands = []
    ar, base = RUNS / f"{key}-ar", RUNS / base_key
    adv = ", adversary: 10" if adversary else ""
    attrs = f"[{{name: sentiment, dim: 0, column: label, values: [neg, pos]{adv}}}, {{name: length, dim: 1}}]"
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
    # AR: z_0 set to the mean z_0 of the other class's training sentences (of the labelled ones: 10% in 10pct)
    tr_codes = model.encode_sentences(tr["texts"], batch_size=128)
    known = tr["labels"].copy()
    if key == "sentiment-10pct":
        import csv

        with open(split["train-10pct"]["path"], encoding="utf-8") as f:
            cells = [r["label"] for r in csv.DictReader(f)]
        known = np.array([{"neg": 0, "pos": 1}.get(c, -1) for c in cells])[keep_train]
    means = [float(tr_codes[torch.from_numpy(known == c), 0].mean()) for c in (0, 1)]
    # attribute vector on the run without the regulariser
    btr = base_model.encode_sentences(tr["texts"], batch_size=128)
    v = btr[torch.from_numpy(known == 1)].mean(0) - btr[torch.from_numpy(known == 0)].mean(0)
    row["class_means_z0"] = means
    row["flip_sweep"] = flip_sweep(clf, model, base_model, inputs, labels, means, v)
    # the headline flips: from posterior means, z_0 at the other class's mean, the vector once, no change
    pick = {(r["method"], r["start"], r["strength"]): r for r in row["flip_sweep"]}
    ar_flip, vec_flip = pick[("ar", "mean", 0.0)], pick[("vector", "mean", 1.0)]
    headline = ("flip_rate", "self_bleu", "self_bleu_read")
    row["flip_ar"], row["flip_vector"], row["reconstruction"] = (
        {k: r[k] for k in headline} for r in (ar_flip, vec_flip, pick[("reconstruction", "mean", None)])
    )  # reconstruction's "flip rate": decodes kept in their class
    values = sweep_values(codes[:, 0])
    swept = traverse(model, inputs, 0, values, **gen)
    p_pos = clf.predict_proba([s for block in swept for s in block])[:, 1]
    row["control_spearman"] = spearman(np.tile(values, n), p_pos)
    row["sweep"] = values
    row["examples"] = [
        {
            "input": inputs[i],
            "label": ("neg", "pos")[labels[i]],
            "ar": ar_flip["examples"][i],
            "vector": vec_flip["examples"][i],
        }
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
        + (" (labels on 10% of the training rows)" if key == "sentiment-10pct" else "")
        + (" (sentiment with an adversary of weight 10)" if adversary else "")
        + (f" ({' '.join(extra)})" if extra else ""),
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


def flip_sweep(clf, model, base_model, inputs: list[str], labels: np.ndarray, means: list[float], v) -> list[dict]:
    """Flip rate and self-BLEU of every method, starting code and strength (module docstring)."""
    read = [as_read(model.tokenizer, t) for t in inputs]
    target = 1 - labels
    away = torch.from_numpy(np.where(target == 1, 1.0, -1.0)).float()
    rows = []
    for start, steps in (("mean", 0), ("fitted", FIT_STEPS)):
        z = model.encode_sentences(inputs, batch_size=128, fit_steps=steps)
        rows.append(
            {
                "method": "reconstruction",
                "start": start,
                "strength": None,
                **flips(clf, inputs, model.decode(z, **GEN), labels, read),
            }
        )  # flip_rate here: kept in the class
        for s in STRENGTHS:
            moved = z.clone()
            moved[:, 0] = torch.tensor([means[t] for t in target]) + s * (means[1] - means[0]) * away
            out = model.decode(moved, **GEN)
            rows.append(
                {
                    "method": "ar",
                    "start": start,
                    "strength": s,
                    **flips(clf, inputs, out, target, read),
                    "examples": out[:3],
                }
            )
        bz = base_model.encode_sentences(inputs, batch_size=128, fit_steps=steps)
        for s in SCALES:
            out = base_model.decode(bz + s * away[:, None] * v, **GEN)
            rows.append(
                {
                    "method": "vector",
                    "start": start,
                    "strength": s,
                    **flips(clf, inputs, out, target, read),
                    "examples": out[:3],
                }
            )
    return rows
