"""Does the code keep the sentence, and does the prior still sample fluently? The trade-off in numbers.

Pure functions on sentences (words split on whitespace) come first: word edit distance, monotone paths,
distinct-n, self-BLEU. `measure_faithfulness` then runs a trained TextVAE over validation sentences:

- reconstruction: sacrebleu corpus BLEU and exact match of the greedy decoding of each posterior mean,
  beside the BLEU of decodings of prior codes against the same sentences (what a code that knows
  nothing of the sentence scores);
- endpoints: the share of random validation pairs whose slerp path (greedy) starts at A and ends at B;
- smoothness: the mean word edit distance between consecutive lines of a path, and the share of paths
  whose edit distance to B never rises along the path;
- samples from the prior: distinct-2, self-BLEU, and with a language model (`lm`, a TextVAE with
  encoder kind none trained on the same data) their per-word perplexity beside the validation
  sentences' own; with the language model too, the perplexity of the paths' middle lines (every line
  but the two ends), whose fluency the edit distances do not see.

Sentences are compared as the model's tokenizer reads them (`tokenizer.decode(tokenizer.encode(s))`:
lower-cased if it lower-cases, unknown words as its unknown token), as `textvae evaluate` does.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from itertools import pairwise

import torch
from tqdm.auto import tqdm

from ..core.interpolation import interpolate as interpolate_codes
from ..errors import UserError

NOTE = (
    "words split on whitespace; sentences compared as the model's tokenizer reads them; reconstructions and "
    "paths decoded greedily from posterior means (paths: slerp); samples: codes from the model's prior, "
    "decoded by sampling (temperature 1, as `textvae sample` prints) and greedily; perplexity per word: "
    "exp(-sum log p(x) / (words + sentences)) under the language model"
)


# -- pure metrics ----------------------------------------------------------------------------------
def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two sentences in words (insertions, deletions, substitutions)."""
    x, y = a.split(), b.split()
    row = list(range(len(y) + 1))
    for i, wx in enumerate(x, 1):
        diag, row[0] = row[0], i
        for j, wy in enumerate(y, 1):
            diag, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diag + (wx != wy))
    return row[-1]


def step_distance(path: list[str]) -> float:
    """Mean word edit distance between consecutive lines of a path (0.0 for a path of one line)."""
    steps = [edit_distance(p, q) for p, q in pairwise(path)]
    return sum(steps) / len(steps) if steps else 0.0


def is_monotone(path: list[str], target: str) -> bool:
    """Whether the word edit distance to `target` never rises from one line of the path to the next."""
    d = [edit_distance(line, target) for line in path]
    return all(later <= earlier for earlier, later in pairwise(d))


def ngrams(words: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def distinct_n(sentences: list[str], n: int = 2) -> float:
    """Distinct n-grams over all n-grams of the sentences (Li et al. 2016); 0.0 when there are none."""
    grams = [g for s in sentences for g in ngrams(s.split(), n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def self_bleu(sentences: list[str], max_order: int = 4) -> float:
    """Corpus BLEU of each sentence against all the others as its references (Zhu et al. 2018's
    self-BLEU, as one corpus score): exactly sacrebleu's BLEU(tokenize="none") with N-1 references a
    hypothesis, computed in O(N) from leave-one-out maximum n-gram counts. 0.0 for fewer than 2."""
    from sacrebleu.metrics.bleu import BLEU

    if len(sentences) < 2:
        return 0.0
    words = [s.split() for s in sentences]
    counts = [[Counter(ngrams(w, n)) for n in range(1, max_order + 1)] for w in words]
    # per n-gram: the largest count in any sentence, how many sentences have it, and the second largest
    top: list[dict] = [{} for _ in range(max_order)]
    for per_order in counts:
        for n, c in enumerate(per_order):
            for g, k in c.items():
                first, ties, second = top[n].get(g, (0, 0, 0))
                if k > first:
                    first, ties, second = k, 1, first
                elif k == first:
                    ties += 1
                elif k > second:
                    second = k
                top[n][g] = (first, ties, second)
    lengths = Counter(len(w) for w in words)
    correct, total = [0] * max_order, [0] * max_order
    sys_len = ref_len = 0
    for w, per_order in zip(words, counts):
        for n, c in enumerate(per_order):
            for g, k in c.items():
                first, ties, second = top[n][g]
                others = first if (k < first or ties > 1) else second  # the max count in the other sentences
                correct[n] += min(k, others)
            total[n] += max(0, len(w) - n)
        sys_len += len(w)
        lengths[len(w)] -= 1  # leave this sentence out
        ref_len += _closest_length(len(w), [n for n, k in lengths.items() if k > 0])
        lengths[len(w)] += 1
    return float(
        BLEU.compute_bleu(correct, total, sys_len, ref_len, smooth_method="exp", max_ngram_order=max_order).score
    )


def _closest_length(hyp_len: int, ref_lens: list[int]) -> int:
    """sacrebleu's closest reference length: the least |difference|, the shorter on a tie."""
    return min(ref_lens, key=lambda r: (abs(hyp_len - r), r))


def corpus_bleu(hyps: list[str], refs: list[str]) -> float:
    """sacrebleu corpus BLEU (its default 13a tokenization, as `textvae evaluate` reports)."""
    import sacrebleu

    return float(sacrebleu.BLEU(force=True).corpus_score(hyps, [refs]).score)


def exact_match(hyps: list[str], refs: list[str]) -> float:
    return sum(h == r for h, r in zip(hyps, refs)) / len(refs) if refs else 0.0


def endpoint_misses(path: list[str], a: str, b: str) -> tuple[bool, bool]:
    """(first line differs from a, last line differs from b)."""
    return path[0] != a, path[-1] != b


def path_scores(paths: list[list[str]], pairs: list[tuple[str, str]]) -> dict:
    """Endpoint fidelity, smoothness and monotonicity of decoded paths between (a, b) pairs."""
    n = len(paths)
    ends = [endpoint_misses(p, a, b) for p, (a, b) in zip(paths, pairs)]
    return {
        "pairs": n,
        "endpoint_fidelity": sum(not (x or y) for x, y in ends) / n,
        "start_fidelity": sum(not x for x, _ in ends) / n,
        "end_fidelity": sum(not y for _, y in ends) / n,
        "step_edit_distance": sum(step_distance(p) for p in paths) / n,
        "monotone": sum(is_monotone(p, b) for p, (_, b) in zip(paths, pairs)) / n,
        "distinct_lines": sum(len(set(p)) for p in paths) / n,
    }


# -- on a model ------------------------------------------------------------------------------------
def as_read(tokenizer, sentence: str) -> str:
    """The sentence as the tokenizer reads it: what a perfect reconstruction prints."""
    return tokenizer.decode(tokenizer.encode(sentence))


def usable(tokenizer, sentences: list[str]) -> list[str]:
    """The sentences a model can encode: not blank, not only unknown words."""
    out = []
    for s in sentences:
        ids = tokenizer.encode(s) if s.strip() else []
        if ids and not all(i == tokenizer.unk_id for i in ids):
            out.append(s)
    return out


@torch.no_grad()
def lm_perplexity(lm, sentences: list[str], batch_size: int = 256) -> dict:
    """Per-word perplexity of sentences under a language model (a TextVAE with encoder kind none, whose
    log p(x|z) is log p(x)); an empty sentence counts its end only."""
    if lm.encoder is not None:
        raise UserError("the fluency model is a VAE; give a language model (trained with model.encoder.kind=none)")
    tok = lm.tokenizer
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))  # similar lengths batch together
    total = 0.0
    with lm._inference():
        for i in range(0, len(order), batch_size):
            rows = [tok.encode(sentences[j]) for j in order[i : i + batch_size]]
            batch = {k: v.to(lm.device) for k, v in lm.collate(rows).items()}
            z = torch.zeros(1, len(rows), lm.config.latent_size, device=lm.device)
            total += float(lm.log_likelihood(z, batch).double().sum())
    words = sum(len(s.split()) for s in sentences)
    return {
        "sentences": len(sentences),
        "words": words,
        "nll_per_sentence": -total / max(1, len(sentences)),
        "perplexity": math.exp(-total / (words + len(sentences))),
    }


def measure_faithfulness(
    model,
    sentences: list[str],
    lm=None,
    reconstructions: int = 1000,
    pairs: int = 100,
    samples: int = 1000,
    steps: int = 5,
    max_length: int = 65,
    seed: int = 0,
    batch_size: int = 256,
    fit_steps: int = 0,
    progress: bool = True,
) -> dict:
    """The trade-off report of a TextVAE on validation `sentences` (see the module docstring).

    Args:
        model: the VAE; lm: a language model for sample fluency (None leaves fluency out).
        reconstructions: sentences drawn at random (seeded) for reconstruction and the validation
            perplexity; pairs: random pairs for the paths; samples: prior codes. Pairs and samples are
            never more than the sentences (a small validation set gets a cheap report).
        steps: intermediate points of each path; max_length: tokens decoded at most (eos included).
        fit_steps: the codes of reconstructions and path ends fitted to their sentences by that many Adam
            steps after the encoder (SentenceAPI.encode_sentences); 0: the posterior means as they are.
        progress: a bar on stderr over the report's stages (several minutes for a Transformer decoder).
    Returns:
        a JSON-serialisable dict with reconstruction, paths, samples (and fluency) sections.
    """
    tok = model.tokenizer
    pool = usable(tok, sentences)
    if len(pool) < 2:
        raise UserError(f"faithfulness needs at least 2 sentences the model can read, not {len(pool)}")
    rng = random.Random(seed)
    stages = ["reconstructions", "paths", "samples", *(["fluency"] if lm is not None else [])]
    bar = tqdm(total=len(stages), desc="faithfulness", unit="stage", disable=not progress, dynamic_ncols=True)
    bar.set_postfix_str(stages[0])

    def stage_done() -> None:  # the bar one stage on, naming the next
        bar.update()
        if bar.n < len(stages):
            bar.set_postfix_str(stages[bar.n])

    chosen = rng.sample(pool, min(reconstructions, len(pool)))
    gen = {"strategy": "greedy", "max_length": max_length, "batch_size": batch_size}
    refs = [as_read(tok, s) for s in chosen]
    hyps = model.decode(model.encode_sentences(chosen, batch_size, fit_steps=fit_steps), **gen)
    n_samples = min(samples, len(pool))
    greedy = model.sample(max(n_samples, len(chosen)), seed=seed, **gen)
    prior_hyps = greedy[: len(chosen)]  # decodings of codes that know nothing of the sentences
    report = {
        "note": NOTE,
        "seed": seed,
        "max_length": max_length,
        "fit_steps": fit_steps,
        "reconstruction": {
            "sentences": len(chosen),
            "bleu": corpus_bleu(hyps, refs),
            "exact_match": exact_match(hyps, refs),
            "bleu_of_prior_codes": corpus_bleu(prior_hyps, refs),
            "examples": [{"input": s, "output": h} for s, h in zip(chosen[:5], hyps[:5])],
        },
    }
    stage_done()

    ab = [tuple(rng.sample(pool, 2)) for _ in range(min(pairs, len(pool)))]
    means = model.encode_sentences([s for pair in ab for s in pair], batch_size, fit_steps=fit_steps)  # (2P, D)
    codes = torch.cat([interpolate_codes(means[2 * i], means[2 * i + 1], steps, "slerp") for i in range(len(ab))])
    lines = model.decode(codes, **gen)  # P * (steps + 2)
    paths = [lines[i * (steps + 2) : (i + 1) * (steps + 2)] for i in range(len(ab))]
    read_pairs = [(as_read(tok, a), as_read(tok, b)) for a, b in ab]
    report["paths"] = {
        "steps": steps,
        **path_scores(paths, read_pairs),
        "examples": [{"a": a, "b": b, "path": p} for (a, b), p in zip(ab[:3], paths[:3])],
    }
    stage_done()

    sampled = model.sample(n_samples, seed=seed, strategy="sample", max_length=max_length, batch_size=batch_size)
    greedy = greedy[:n_samples]
    report["samples"] = {
        "n": n_samples,
        "distinct_2": distinct_n(sampled, 2),
        "self_bleu": self_bleu(sampled),
        "greedy_distinct_2": distinct_n(greedy, 2),
        "greedy_self_bleu": self_bleu(greedy),
        "examples": sampled[:5],
    }
    stage_done()
    if lm is not None:
        own = lm_perplexity(lm, chosen, batch_size)["perplexity"]
        ppl = lm_perplexity(lm, sampled, batch_size)["perplexity"]
        ppl_greedy = lm_perplexity(lm, greedy, batch_size)["perplexity"]
        ppl_paths = lm_perplexity(lm, [line for p in paths for line in p[1:-1]], batch_size)["perplexity"]
        report["fluency"] = {
            "validation_perplexity": own,
            "sample_perplexity": ppl,
            "ratio": ppl / own,
            "greedy_sample_perplexity": ppl_greedy,
            "greedy_ratio": ppl_greedy / own,
            "path_middle_perplexity": ppl_paths,
            "path_middle_ratio": ppl_paths / own,
        }
        stage_done()
    bar.close()
    return report


def summary_rows(report: dict) -> dict:
    """The report's headline numbers, for a console table."""
    r, p, s = report["reconstruction"], report["paths"], report["samples"]
    rows = {
        "reconstruction BLEU (posterior mean)": r["bleu"],
        "reconstruction BLEU (prior codes)": r["bleu_of_prior_codes"],
        "exact match": r["exact_match"],
        "endpoint fidelity": p["endpoint_fidelity"],
        "monotone paths": p["monotone"],
        "edit distance per step": p["step_edit_distance"],
        "samples distinct-2": s["distinct_2"],
        "samples self-BLEU": s["self_bleu"],
    }
    if "fluency" in report:
        f = report["fluency"]
        rows.update(
            {
                "samples perplexity (LM)": f["sample_perplexity"],
                "validation perplexity (LM)": f["validation_perplexity"],
                "fluency ratio": f["ratio"],
                "path middles perplexity (LM)": f["path_middle_perplexity"],
                "path middles fluency ratio": f["path_middle_ratio"],
            }
        )
    return rows
