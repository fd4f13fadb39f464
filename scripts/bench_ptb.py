"""Benchmark: the Penn Treebank protocol of the text-VAE papers, against their published numbers.

    python scripts/bench_ptb.py [--ptb ../shared/data/ptb] [--out benchmarks] [--runs runs/bench-ptb]
                                [--only NAME ...] [--reuse] [--iw-samples 500] [--eval-precision no]
                                [--table-only]

Every model is trained by `textvae train` on ptb.train, selected on ptb.valid (best validation
-ELBO), and evaluated by `textvae evaluate` on ptb.test: NLL per sentence from the importance-weighted
bound (k = --iw-samples; for the language model q(z|x) = p(z) and the decoder ignores z, so one sample
gives log p(x) exactly), perplexity over words plus one end-of-sentence per sentence, KL, mutual
information, active units, and reconstruction BLEU of greedy decodes of the posterior means.
Wall times and training tokens/s are measured on the machine that runs it. Writes ptb.json and
ptb.md (and ptb-curves.png, the training curves of the rows whose runs are on disk) under --out; a run
already evaluated is reused with --reuse, and an unfinished one continues from its
latest checkpoint.

Runs:
  lm       configs/text/ptb-lm.yaml     the decoder alone (encoder.kind none), the LM baseline
  vae      configs/text/ptb-lstm.yaml   the LSTM VAE (bidirectional LSTM encoder, z at every step)
  and ablations of the VAE listed in ABLATIONS (run with --only).
"""
from __future__ import annotations

import argparse
import json
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

from textvae.runtime import processor_name
from textvae.training.checkpoints import latest_checkpoint, read_state
from textvae.training.curves import plot_curves

ROOT = Path(__file__).resolve().parent.parent
RUNS = {
    "lm": ("LSTM language model (textvae)", "configs/text/ptb-lm.yaml", []),
    "vae": ("LSTM VAE (textvae)", "configs/text/ptb-lstm.yaml", []),
}
# Longer training with stronger dropout (Li et al. train 100 epochs with dropout 0.5); a checkpoint each
# epoch (658 steps), so that --reuse continues the run after an interruption.
LONG = ["model.embed_dropout=0.5", "model.output_dropout=0.5", "train.epochs=40", "train.save_every=658"]
# Longer still, with validation and the saved model on an exponential moving average of the weights.
LONGER_EMA = [*LONG[:2], "train.epochs=60", LONG[3], "train.ema_decay=0.999"]
# AWD-LSTM's other decoder regularisers (Merity et al. 2018), at their values: word-type dropout 0.1, AR 2, TAR 1.
AWD = ["model.decoder.word_type_dropout=0.1", "model.activation_reg=2", "model.temporal_activation_reg=1"]
# Li et al.'s start: the encoder, the posterior head and the embedding (shared with the encoder, it lives in
# the decoder) from an autoencoder trained first (see PRETRAIN).
AE_PARTS = "train.init_parts=[encoder,to_posterior,decoder.embedding]"
# Li et al.'s released code as read: the encoder has its own embedding, and only the encoder and the posterior
# head are kept from the autoencoder; the whole decoder starts afresh.
AE_ENCODER_ONLY = "train.init_parts=[enc_embedding,encoder,to_posterior]"
# ... and their VAE stage (text_anneal_fb.py --reset_dec --kl_start 0 --warm_up 10 --target_kl 8 --fb 2): the KL
# weight rises linearly from 0 over 10 epochs (658 steps each), and each sentence's KL of each dimension
# below 8 / 32 nats is not penalised.
LI_RECIPE = ["model.share_embeddings=false", AE_ENCODER_ONLY, "loss.free_bits=0.25", "loss.free_bits_per=example",
             "loss.kl.kind=linear", "loss.kl.anneal_steps=6580"]
# The optimiser of He et al.'s and Li et al.'s code: plain SGD at learning rate 1 (their schedule halves it on
# validation plateaus; here the configs' warm-up and cosine decay stay).
SGD = ["train.optimizer=sgd", "train.lr=1.0"]
# Training further from a model with a fitted mixture prior, against that prior (held fixed; its KL estimated,
# the floor of 0.25 nats a dimension on each sentence's total KL, 8 nats): every weight from the fitted model
# (the row's TUNED entry), KL weight 1, 10 epochs at a quarter of the learning rate, weight EMA 0.999.
TUNE_AGAINST_PRIOR = ["model.prior_components=16", "loss.free_bits=0.25", "loss.free_bits_per=example",
                      "loss.kl.kind=constant", "train.epochs=10", "train.lr=5e-4", "train.save_every=658",
                      "train.ema_decay=0.999"]
ABLATIONS = {  # overrides of the rows' configs
    "vae-free-bits-0.5-word-dropout-0.1": ("LSTM VAE, free bits 0.5, word dropout 0.1 (the config until 2026-11-26)",
                                           "configs/text/ptb-lstm.yaml",
                                           ["loss.free_bits=0.5", "model.word_dropout=0.1"]),
    "vae-free-bits-0.25": ("LSTM VAE, free bits 0.25", "configs/text/ptb-lstm.yaml", ["loss.free_bits=0.25"]),
    "vae-weight-drop-0.25": ("LSTM VAE, weight drop 0.25", "configs/text/ptb-lstm.yaml",
                             ["model.decoder.weight_drop=0.25"]),
    "vae-ae-pretrained": ("LSTM VAE, encoder pre-trained as an autoencoder (Li et al. 2019)",
                          "configs/text/ptb-lstm.yaml", [AE_PARTS]),
    "vae-dropout-0.5-epochs-40": ("LSTM VAE, dropout 0.5, 40 epochs", "configs/text/ptb-lstm.yaml", LONG),
    "vae-z-to-output": ("LSTM VAE, z also added to the decoder's output at every step (Skip-VAE)",
                        "configs/text/ptb-lstm.yaml", ["model.decoder.z_to_output=true"]),
    "vae-locked-dropout": ("LSTM VAE, locked (variational) dropout", "configs/text/ptb-lstm.yaml",
                           ["model.locked_dropout=true"]),
    "vae-ae-pretrained-dropout-0.5-epochs-40": (
        "LSTM VAE, dropout 0.5, 40 epochs, encoder pre-trained as an autoencoder", "configs/text/ptb-lstm.yaml",
        [*LONG, AE_PARTS]),
    "lm-dropout-0.5-epochs-40": ("LSTM language model, dropout 0.5, 40 epochs", "configs/text/ptb-lm.yaml", LONG),
    "vae-ae-pretrained-dropout-0.5-epochs-60-ema": (
        "LSTM VAE, dropout 0.5, 60 epochs, weight EMA 0.999, encoder pre-trained as an autoencoder",
        "configs/text/ptb-lstm.yaml", [*LONGER_EMA, AE_PARTS]),
    "vae-ae-pretrained-dropout-0.5-epochs-60-ema-z-to-output": (
        "LSTM VAE, dropout 0.5, 60 epochs, weight EMA 0.999, AE pre-trained, z also added to the decoder's output",
        "configs/text/ptb-lstm.yaml", [*LONGER_EMA, AE_PARTS, "model.decoder.z_to_output=true"]),
    "vae-ae-pretrained-dropout-0.5-epochs-60-ema-z-to-output-gmm16-wider1.25": (
        "LSTM VAE, dropout 0.5, 60 epochs, weight EMA 0.999, AE pre-trained, z also added to the decoder's output, "
        "+ fitted prior (GMM, 16), the bound's proposal q(z|x) 1.25x wider", "configs/text/ptb-lstm.yaml",
        [*LONGER_EMA, AE_PARTS, "model.decoder.z_to_output=true"]),
    "vae-ae-pretrained-dropout-0.5-epochs-60-ema-z-to-output-gmm16": (
        "LSTM VAE, dropout 0.5, 60 epochs, weight EMA 0.999, AE pre-trained, z also added to the decoder's output, "
        "+ fitted prior (GMM, 16)", "configs/text/ptb-lstm.yaml",
        [*LONGER_EMA, AE_PARTS, "model.decoder.z_to_output=true"]),
    "vae-ae-pretrained-dropout-0.5-epochs-60-ema-gmm16": (
        "LSTM VAE, dropout 0.5, 60 epochs, weight EMA 0.999, AE pre-trained, + fitted prior (GMM, 16)",
        "configs/text/ptb-lstm.yaml", [*LONGER_EMA, AE_PARTS]),
    "vae-gmm16": ("LSTM VAE, + prior fitted after training (Gaussian mixture, 16 components)",
                  "configs/text/ptb-lstm.yaml", []),
    "vae-dropout-0.5-epochs-40-gmm16": (
        "LSTM VAE, dropout 0.5, 40 epochs, + prior fitted after training (Gaussian mixture, 16 components)",
        "configs/text/ptb-lstm.yaml", LONG),
    "vae-dropout-0.5-epochs-40-gmm16-refine50": (
        "LSTM VAE, dropout 0.5, 40 epochs, + fitted prior (GMM, 16), evaluated with 50 refinement steps of q(z|x)",
        "configs/text/ptb-lstm.yaml", LONG),
    "vae-dropout-0.5-epochs-40-gmm16-wider1.25": (
        "LSTM VAE, dropout 0.5, 40 epochs, + fitted prior (GMM, 16), the bound's proposal q(z|x) 1.25x wider",
        "configs/text/ptb-lstm.yaml", LONG),
    "vae-ae-pretrained-dropout-0.5-epochs-60-ema-gmm16-wider1.25": (
        "LSTM VAE, dropout 0.5, 60 epochs, weight EMA 0.999, AE pre-trained, + fitted prior (GMM, 16), the bound's "
        "proposal q(z|x) 1.25x wider", "configs/text/ptb-lstm.yaml", [*LONGER_EMA, AE_PARTS]),
    "vae-li-recipe-dropout-0.5-epochs-60-ema": (
        "LSTM VAE, dropout 0.5, 60 epochs, weight EMA 0.999, Li et al.'s recipe as their code reads: encoder (own "
        "embedding) from an autoencoder, decoder afresh, free bits 0.25 per example and dimension, KL weight "
        "linear from 0 over 10 epochs", "configs/text/ptb-lstm.yaml", [*LONGER_EMA, *LI_RECIPE]),
    "vae-li-recipe-dropout-0.5-epochs-60-ema-gmm16": (
        "LSTM VAE, dropout 0.5, 60 epochs, weight EMA 0.999, Li et al.'s recipe (as above), + fitted prior (GMM, 16)",
        "configs/text/ptb-lstm.yaml", [*LONGER_EMA, *LI_RECIPE]),
    "vae-li-recipe-dropout-0.5-epochs-60-ema-gmm16-wider1.25": (
        "LSTM VAE, dropout 0.5, 60 epochs, weight EMA 0.999, Li et al.'s recipe (as above), + fitted prior (GMM, 16), "
        "the bound's proposal q(z|x) 1.25x wider", "configs/text/ptb-lstm.yaml", [*LONGER_EMA, *LI_RECIPE]),
    "lm-dropout-0.5-epochs-60-ema": ("LSTM language model, dropout 0.5, 60 epochs, weight EMA 0.999",
                                     "configs/text/ptb-lm.yaml", LONGER_EMA),
    "lm-locked-dropout-0.5-epochs-40": ("LSTM language model, locked dropout 0.5, 40 epochs", "configs/text/ptb-lm.yaml",
                                        [*LONG, "model.locked_dropout=true"]),
    "lm-dropout-0.5-weight-drop-0.3-epochs-40": (
        "LSTM language model, dropout 0.5, weight drop 0.3, 40 epochs", "configs/text/ptb-lm.yaml",
        [*LONG, "model.decoder.weight_drop=0.3"]),
    "lm-dropout-0.5-weight-drop-0.3-awd-epochs-40": (
        "LSTM language model, dropout 0.5, weight drop 0.3, word-type dropout 0.1, AR 2 / TAR 1, 40 epochs",
        "configs/text/ptb-lm.yaml", [*LONG, "model.decoder.weight_drop=0.3", *AWD]),
    "lm-dropout-0.5-awd-epochs-40": (
        "LSTM language model, dropout 0.5, word-type dropout 0.1, AR 2 / TAR 1, 40 epochs",
        "configs/text/ptb-lm.yaml", [*LONG, *AWD]),
    "lm-dropout-0.5-awd-epochs-40-seed1": (
        "LSTM language model, dropout 0.5, word-type dropout 0.1, AR 2 / TAR 1, 40 epochs, seed 1",
        "configs/text/ptb-lm.yaml", [*LONG, *AWD, "train.seed=1"]),
    "lm-dropout-0.5-awd-sgd-epochs-40": (
        "LSTM language model, dropout 0.5, word-type dropout 0.1, AR 2 / TAR 1, SGD at learning rate 1 (as He et al. "
        "and Li et al. train), 40 epochs", "configs/text/ptb-lm.yaml", [*LONG, *AWD, *SGD]),
    "lm-dropout-0.5-epochs-60-ema-awd": (
        "LSTM language model, dropout 0.5, word-type dropout 0.1, AR 2 / TAR 1, 60 epochs, weight EMA 0.999",
        "configs/text/ptb-lm.yaml", [*LONGER_EMA, *AWD]),
    "vae-ae-pretrained-dropout-0.5-epochs-60-ema-awd": (
        "LSTM VAE, dropout 0.5, word-type dropout 0.1, AR 2 / TAR 1, 60 epochs, weight EMA 0.999, AE pre-trained",
        "configs/text/ptb-lstm.yaml", [*LONGER_EMA, AE_PARTS, *AWD]),
    "vae-ae-pretrained-dropout-0.5-epochs-60-ema-awd-gmm16": (
        "LSTM VAE, dropout 0.5, word-type dropout 0.1, AR 2 / TAR 1, 60 epochs, weight EMA 0.999, AE pre-trained, "
        "+ fitted prior (GMM, 16)", "configs/text/ptb-lstm.yaml", [*LONGER_EMA, AE_PARTS, *AWD]),
    "vae-ae-pretrained-dropout-0.5-epochs-60-ema-awd-gmm16-wider1.25": (
        "LSTM VAE, dropout 0.5, word-type dropout 0.1, AR 2 / TAR 1, 60 epochs, weight EMA 0.999, AE pre-trained, "
        "+ fitted prior (GMM, 16), the bound's proposal q(z|x) 1.25x wider", "configs/text/ptb-lstm.yaml",
        [*LONGER_EMA, AE_PARTS, *AWD]),
    "lm-distilled-from-3-lms": (
        "LSTM language model, distilled from the three 40-epoch AWD language models (the mean of their next-token "
        "probabilities, top 32 + the rest as one bin, weight 1)", "configs/text/ptb-lm.yaml", []),
    "lm-distilled-from-3-lms-no-rest-bin": (
        "LSTM language model, distilled from the three 40-epoch AWD language models (the mean of their next-token "
        "probabilities, top 32 alone, weight 1)", "configs/text/ptb-lm.yaml", ["loss.distill_rest_bin=false"]),
    "lm-dropout-0.5-epochs-60-ema-distilled-from-3-lms": (
        "LSTM language model, dropout 0.5, 60 epochs, weight EMA 0.999, distilled from the three 40-epoch AWD "
        "language models (top 32 + the rest as one bin, weight 1)", "configs/text/ptb-lm.yaml", LONGER_EMA),
    "vae-li-recipe-dropout-0.5-epochs-60-ema-distilled-from-3-lms": (
        "LSTM VAE, dropout 0.5, 60 epochs, weight EMA 0.999, Li et al.'s recipe (as above), its decoder distilled "
        "from the three 40-epoch AWD language models (top 32 + the rest as one bin, weight 1)", "configs/text/ptb-lstm.yaml",
        [*LONGER_EMA, *LI_RECIPE]),
    "vae-li-recipe-dropout-0.5-epochs-60-ema-distilled-from-3-lms-gmm16": (
        "LSTM VAE, Li et al.'s recipe, decoder distilled from three language models (as above), + fitted prior "
        "(GMM, 16)", "configs/text/ptb-lstm.yaml", [*LONGER_EMA, *LI_RECIPE]),
    "vae-li-recipe-dropout-0.5-epochs-60-ema-distilled-from-3-lms-gmm16-wider1.25": (
        "LSTM VAE, Li et al.'s recipe, decoder distilled from three language models (as above), + fitted prior "
        "(GMM, 16), the bound's proposal q(z|x) 1.25x wider", "configs/text/ptb-lstm.yaml", [*LONGER_EMA, *LI_RECIPE]),
    "lm-weight-drop-0.25": ("LSTM language model, weight drop 0.25", "configs/text/ptb-lm.yaml",
                            ["model.decoder.weight_drop=0.25"]),
    "lm-dropout-0.25": ("LSTM language model, dropout 0.25", "configs/text/ptb-lm.yaml",
                        ["model.embed_dropout=0.25", "model.output_dropout=0.25"]),
}
# Two-stage runs: the first stage (these overrides of the same config) is trained into <key>.pretrain and
# the row's run starts from it (train.init_from); the row's training time is the sum of both stages. The
# autoencoder stage (KL weight 0) keeps its last weights: its -ELBO, with an unpenalised KL, says nothing.
AE_STAGE = ["loss.kl.kind=constant", "loss.kl.max_weight=0", "loss.free_bits=0", "train.epochs=10",
            "train.select_best=false", "train.save_every=658"]  # a checkpoint an epoch: --reuse resumes it
PRETRAIN = {
    "vae-ae-pretrained": AE_STAGE,
    "vae-ae-pretrained-dropout-0.5-epochs-40": [*AE_STAGE, "model.embed_dropout=0.5", "model.output_dropout=0.5"],
    "vae-ae-pretrained-dropout-0.5-epochs-60-ema": [*AE_STAGE, "model.embed_dropout=0.5",
                                                    "model.output_dropout=0.5"],
    "vae-li-recipe-dropout-0.5-epochs-60-ema": [*AE_STAGE, "model.embed_dropout=0.5", "model.output_dropout=0.5",
                                                "model.share_embeddings=false"],
}
# Rows whose first stage is another row's (the same config and stage overrides: the same model, trained
# once, into that row's <key>.pretrain); the row's training time still counts it.
SHARED_PRETRAIN = {
    "vae-ae-pretrained-dropout-0.5-epochs-60-ema-z-to-output": "vae-ae-pretrained-dropout-0.5-epochs-60-ema",
    "vae-ae-pretrained-dropout-0.5-epochs-60-ema-awd": "vae-ae-pretrained-dropout-0.5-epochs-60-ema"}
# Rows of a trained run with a prior fitted after training (`textvae fit-prior`, on ptb.train): key -> (the
# trained run's key, mixture components). The encoder and decoder are the trained run's; the row's training
# time is that run's plus the fit's.
FIT_PRIOR = {"vae-gmm16": ("vae", 16),
             "vae-dropout-0.5-epochs-40-gmm16": ("vae-dropout-0.5-epochs-40", 16),
             "vae-ae-pretrained-dropout-0.5-epochs-60-ema-gmm16": ("vae-ae-pretrained-dropout-0.5-epochs-60-ema", 16),
             "vae-ae-pretrained-dropout-0.5-epochs-60-ema-z-to-output-gmm16": (
                 "vae-ae-pretrained-dropout-0.5-epochs-60-ema-z-to-output", 16),
             "vae-ae-pretrained-dropout-0.5-epochs-60-ema-awd-gmm16": (
                 "vae-ae-pretrained-dropout-0.5-epochs-60-ema-awd", 16),
             "vae-li-recipe-dropout-0.5-epochs-60-ema-gmm16": ("vae-li-recipe-dropout-0.5-epochs-60-ema", 16)}
# Rows trained further from another row's model (train.init_from, every weight): key -> that row's key. The row's
# training time adds that row's.
TUNED: dict[str, str] = {}  # filled by add_tuned_rounds
# Rows distilled from other rows' language models (loss.distill_from, added at run time): key -> the teachers'
# keys. The teachers are trained first if missing; the row's training time adds theirs.
THREE_LMS = ["lm-dropout-0.5-awd-epochs-40", "lm-dropout-0.5-awd-epochs-40-seed1", "lm-dropout-0.5-awd-sgd-epochs-40"]
DISTILL = {"lm-distilled-from-3-lms": THREE_LMS, "lm-distilled-from-3-lms-no-rest-bin": THREE_LMS, "lm-dropout-0.5-epochs-60-ema-distilled-from-3-lms": THREE_LMS,
           "vae-li-recipe-dropout-0.5-epochs-60-ema-distilled-from-3-lms": THREE_LMS}
SHARED_PRETRAIN["vae-li-recipe-dropout-0.5-epochs-60-ema-distilled-from-3-lms"] = "vae-li-recipe-dropout-0.5-epochs-60-ema"
FIT_PRIOR["vae-li-recipe-dropout-0.5-epochs-60-ema-distilled-from-3-lms-gmm16"] = (
    "vae-li-recipe-dropout-0.5-epochs-60-ema-distilled-from-3-lms", 16)
# Rows that evaluate another row's trained model in another way: key -> (that row's key, extra arguments of
# `textvae evaluate`). The row's training time is that row's.
# The proposal's width 1.25 was chosen on 300 validation sentences with k = 500 (the 40-epoch model with the
# N(0, I) prior; NLL 114.40 at 1, 114.23 at 1.25, 114.30 at 1.5, 115.62 at 2). Refinement (50 steps) took 3.5x
# the evaluation's time.
EVAL_VARIANTS = {"vae-dropout-0.5-epochs-40-gmm16-refine50": ("vae-dropout-0.5-epochs-40-gmm16",
                                                              ["--refine-steps", "50"]),
                 "vae-dropout-0.5-epochs-40-gmm16-wider1.25": ("vae-dropout-0.5-epochs-40-gmm16",
                                                               ["--proposal-scale", "1.25"]),
                 "vae-ae-pretrained-dropout-0.5-epochs-60-ema-gmm16-wider1.25": (
                     "vae-ae-pretrained-dropout-0.5-epochs-60-ema-gmm16", ["--proposal-scale", "1.25"]),
                 "vae-ae-pretrained-dropout-0.5-epochs-60-ema-z-to-output-gmm16-wider1.25": (
                     "vae-ae-pretrained-dropout-0.5-epochs-60-ema-z-to-output-gmm16", ["--proposal-scale", "1.25"]),
                 "vae-ae-pretrained-dropout-0.5-epochs-60-ema-awd-gmm16-wider1.25": (
                     "vae-ae-pretrained-dropout-0.5-epochs-60-ema-awd-gmm16", ["--proposal-scale", "1.25"]),
                 "vae-li-recipe-dropout-0.5-epochs-60-ema-gmm16-wider1.25": (
                     "vae-li-recipe-dropout-0.5-epochs-60-ema-gmm16", ["--proposal-scale", "1.25"]),
                 "vae-li-recipe-dropout-0.5-epochs-60-ema-distilled-from-3-lms-gmm16-wider1.25": (
                     "vae-li-recipe-dropout-0.5-epochs-60-ema-distilled-from-3-lms-gmm16", ["--proposal-scale", "1.25"])}


def add_tuned_rounds(base: str, rounds: int, name: str, overrides: list[str]) -> None:
    """Rows of rounds of training further against a fitted prior, from the fitted row `base` (its name,
    and the overrides that build its model): round r is `<previous>-tuned-10` (TUNE_AGAINST_PRIOR, from the
    previous round's fitted model), `...-tuned-10-gmm16` (its prior refitted) and `...-gmm16-wider1.25` (that
    evaluated with the 1.25x wider proposal); the next round starts from the refitted model."""
    config = "configs/text/ptb-lstm.yaml"
    previous = base
    for r in range(1, rounds + 1):
        tuned = f"{previous}-tuned-10"
        ABLATIONS[tuned] = (f"{name}, + fitted prior (GMM, 16), {_rounds(r)} evaluated with the prior it trained "
                            f"against", config, [*overrides, *TUNE_AGAINST_PRIOR])
        TUNED[tuned] = previous
        FIT_PRIOR[tuned + "-gmm16"] = (tuned, 16)
        ABLATIONS[tuned + "-gmm16"] = (f"{name}, + fitted prior (GMM, 16), {_rounds(r)} + prior refitted (GMM, 16)",
                                       config, [*overrides, *TUNE_AGAINST_PRIOR])
        EVAL_VARIANTS[tuned + "-gmm16-wider1.25"] = (tuned + "-gmm16", ["--proposal-scale", "1.25"])
        ABLATIONS[tuned + "-gmm16-wider1.25"] = (
            f"{name}, + fitted prior (GMM, 16), {_rounds(r)} + prior refitted (GMM, 16), the bound's proposal q(z|x) "
            f"1.25x wider", config, [*overrides, *TUNE_AGAINST_PRIOR])
        previous = tuned + "-gmm16"


def _rounds(r: int) -> str:
    return ("then 10 more epochs against that prior (held fixed)," if r == 1 else
            f"then {r} rounds of 10 more epochs against it (held fixed), the prior refitted between rounds,")


add_tuned_rounds("vae-li-recipe-dropout-0.5-epochs-60-ema-gmm16", 2, "LSTM VAE, Li et al.'s recipe (as above)",
                 [*LONGER_EMA[:2], *LI_RECIPE[:1]])
PUBLISHED = [  # (model, PPL, NLL, MI, active units); the rows of issue 4, from the papers
    ("LSTM language model (published)", 100.47, 101.04, None, None),
    ("VAE + monotonic annealing (published)", 101.40, None, 0.00, 0),
    ("aggressive training, He et al. 2019", 99.83, None, 0.83, 4),
    ("AE pre-training + free bits, Li et al. 2019", 96.86, None, 5.31, 32),
]


def ptb_files(ptb: Path) -> dict[str, str]:
    """{train, valid, test} -> the path of ptb.<split>.txt (or .txt.gz) in folder `ptb`; exits with a
    one-line error when one is missing."""
    data = {}
    for split in ("train", "valid", "test"):
        found = [f for f in (ptb / f"ptb.{split}.txt", ptb / f"ptb.{split}.txt.gz") if f.is_file()]
        if not found:
            sys.exit(f"error: no ptb.{split}.txt(.gz) in {ptb}; give the folder with --ptb")
        data[split] = str(found[0].resolve())
    return data


def run(cmd: list[str]) -> float:
    """Run a command from the project root; its wall time in seconds."""
    print("$ " + shlex.join(cmd), flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True)
    return time.perf_counter() - t0


def training_speed(folder: Path) -> float | None:
    """Median training tokens/s over the logged windows (the first one, with start-up, left out)."""
    log = folder / "logs" / "train.jsonl"
    speeds = [r["train/tokens_per_s"] for r in map(json.loads, log.read_text().splitlines())
              if "train/tokens_per_s" in r]
    return statistics.median(speeds[1:] or speeds) if speeds else None


def resume_point(folder: Path, reuse: bool) -> tuple[list[str], float]:
    """With --reuse, an unfinished run continues from its latest checkpoint (train.save_every makes them;
    SIGTERM writes one): the `--resume` arguments and the time its earlier parts took up to there."""
    if reuse and (last := latest_checkpoint(folder / "checkpoints")) is not None:
        return ["--resume", str(last)], read_state(last).get("train_seconds", 0.0)
    return [], 0.0


def bench(key: str, args, data: dict, evaluate: bool = True) -> dict:
    """Train (unless --reuse finds a trained model) and evaluate (unless --reuse finds an evaluation
    with the same number of samples) one run; its row. evaluate=False stops after training (a row made
    from another row needs that row's model, not its evaluation)."""
    name, config, extra = {**RUNS, **ABLATIONS}[key]
    folder = Path(args.runs) / key
    trained, result_file = folder / "train_timing.json", folder / "test.json"
    py = [sys.executable, "-m", "textvae"]
    model_dir, eval_extra = folder, []
    if key in EVAL_VARIANTS:
        base_key, eval_extra = EVAL_VARIANTS[key]
        base = bench(base_key, args, data, evaluate=False)  # trained first (kept with --reuse)
        model_dir = Path(args.runs) / base_key
        folder.mkdir(parents=True, exist_ok=True)
        trained.write_text(json.dumps({**{k: base[k] for k in ("config", "overrides", "train_seconds",
                                                                  "train_tokens_per_s")},
                                       "evaluated_model": str(model_dir), "evaluate_arguments": eval_extra},
                                      indent=2) + "\n")
    if key in FIT_PRIOR and not (args.reuse and trained.is_file()):
        base_key, components = FIT_PRIOR[key]
        base = bench(base_key, args, data, evaluate=False)  # trained first (kept with --reuse)
        fit_s = run([*py, "fit-prior", str(Path(args.runs) / base_key), "--data", data["train"], "--components",
                     str(components), "--output", str(folder)])
        trained.write_text(json.dumps({"config": base["config"], "overrides": base["overrides"],
                                       "prior": f"fit-prior --components {components} (from {base_key})",
                                       "fit_prior_seconds": round(fit_s, 1),
                                       "train_seconds": round(base["train_seconds"] + fit_s, 1),
                                       "train_tokens_per_s": base["train_tokens_per_s"]}, indent=2) + "\n")
    if key not in EVAL_VARIANTS and not (args.reuse and trained.is_file()):
        common = [f"data.train_file={data['train']}", f"data.valid_file={data['valid']}", "train.progress_bar=false"]
        pre_s = 0.0
        if key in DISTILL:  # the teachers trained first (kept with --reuse)
            pre_s = sum(bench(t, args, data, evaluate=False)["train_seconds"] for t in DISTILL[key])
            extra = [*extra, f"loss.distill_from=[{','.join(str(Path(args.runs) / t) for t in DISTILL[key])}]"]
        if key in TUNED:  # trained first (kept with --reuse); this run starts from its model
            pre_s = bench(TUNED[key], args, data, evaluate=False)["train_seconds"]
            extra = [*extra, f"train.init_from={Path(args.runs) / TUNED[key]}"]
        stage = SHARED_PRETRAIN.get(key, key)
        if stage in PRETRAIN:
            pre = folder.with_name(stage + ".pretrain")
            pre_timing = pre / "train_timing.json"
            if not (args.reuse and pre_timing.is_file()):  # --reuse keeps a finished first stage
                pre_timing.parent.mkdir(parents=True, exist_ok=True)
                resume, before_s = resume_point(pre, args.reuse)
                pre_timing.write_text(json.dumps({"train_seconds": before_s + run(
                    [*py, "train", "--config", config, "--output-dir", str(pre), *resume, *common, *PRETRAIN[stage],
                     *args.overrides])}) + "\n")
            pre_s += json.loads(pre_timing.read_text())["train_seconds"]
            extra = [*extra, f"train.init_from={pre}"]
        resume, before_s = resume_point(folder, args.reuse)
        train_s = pre_s + before_s + run([*py, "train", "--config", config, "--output-dir", str(folder), *resume,
                                          *common, *extra, *args.overrides])
        trained.write_text(json.dumps({"config": config, "overrides": extra + list(args.overrides),
                                       "train_seconds": round(train_s, 1),
                                       "train_tokens_per_s": training_speed(folder)}, indent=2) + "\n")
    if not evaluate:
        return {"key": key, **json.loads(trained.read_text()), "model": name}
    k = 1 if key.startswith("lm") else args.iw_samples  # exact for the language models
    timing = folder / "eval_timing.json"
    done = json.loads(timing.read_text()) if timing.is_file() else {}
    if not (args.reuse and result_file.is_file() and done.get("iw_samples_used") == k):
        eval_s = run([*py, "evaluate", str(model_dir), *eval_extra, "--data", data["test"], "--iw-samples", str(k),
                      "--mixed-precision", args.eval_precision, "--output", str(result_file)])
        done = {"eval_seconds": round(eval_s, 1), "iw_samples_used": k, "eval_precision": args.eval_precision,
                "measured": f"{time.strftime('%Y-%m-%d')}, {processor_name()}"}
        timing.write_text(json.dumps(done, indent=2) + "\n")
    return {"key": key, **json.loads(trained.read_text()), **done, **json.loads(result_file.read_text()),
            "model": name}


def fmt(x, digits=2):
    return "-" if x is None else (f"{x:,.{digits}f}" if isinstance(x, float) else f"{x}")


def markdown(rows: list[dict], header: str) -> str:
    out = [header, "",
           "| model (latent 32, LSTM 256) | PPL | NLL | KL | MI | active units | BLEU | train (min) | eval (min) "
           "| train tokens/s | measured |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        au = f"{r['active_units']}/{r['latent_size']}" if not r["key"].startswith("lm") else "-"
        mi = fmt(r["mi"]) if not r["key"].startswith("lm") else "-"
        out.append(f"| {r['model']} | {fmt(r['perplexity'])} | {fmt(r['nll'])} | {fmt(r['kl'])} | {mi} | {au} "
                   f"| {fmt(r['bleu'], 1)} | {fmt(r['train_seconds'] / 60, 1)} | {fmt(r['eval_seconds'] / 60, 1)} "
                   f"| {fmt(r['train_tokens_per_s'], 0)} | {r.get('measured', '-')} |")
    for name, ppl, nll, mi, au in PUBLISHED:
        out.append(f"| {name} | {fmt(ppl)} | {fmt(nll)} | - | {fmt(mi)} | {fmt(au)} | - | - | - | - | paper |")
    return "\n".join(out) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ptb", default=str(ROOT.parent / "shared" / "data" / "ptb"),
                   help="folder of ptb.{train,valid,test}.txt (or .txt.gz)")
    p.add_argument("--out", default="benchmarks")
    p.add_argument("--runs", default="runs/bench-ptb")
    p.add_argument("--only", nargs="+", choices=[*RUNS, *ABLATIONS], default=list(RUNS))
    p.add_argument("--reuse", action="store_true", help="reuse runs that were already evaluated")
    p.add_argument("--table-only", action="store_true", help="only rewrite ptb.md from ptb.json")
    p.add_argument("--iw-samples", type=int, default=500)
    p.add_argument("--eval-precision", choices=["no", "bf16"], default="no")
    p.add_argument("overrides", nargs="*", help="key=value overrides for every training run")
    args = p.parse_args()

    ptb = Path(args.ptb)
    data = ptb_files(ptb)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    previous = {}
    if (out / "ptb.json").is_file():  # keep rows of runs not redone this time
        previous = {r["key"]: r for r in json.loads((out / "ptb.json").read_text())["rows"]}
    t0 = time.perf_counter()
    for key in [] if args.table_only else args.only:
        previous[key] = bench(key, args, data)
    order = [*RUNS, *ABLATIONS]
    rows = sorted(previous.values(), key=lambda r: order.index(r["key"]))
    import torch

    machine = (f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
               f"Python {platform.python_version()}")
    header = (
        "# Penn Treebank: test-split numbers of textvae's models beside the published ones\n\n"
        f"Machine: {machine}, CPU only. Data: {ptb} (Mikolov's PTB text: 42,068 / 3,370 / 3,761 "
        "sentences, 10,000 words). Each model is trained on ptb.train, the weights with the best "
        "validation -ELBO kept, and evaluated on ptb.test.\n\n"
        "- NLL: nats per sentence, the importance-weighted bound with k = 500 samples (the language model: "
        "k = 1, exact, since its q(z|x) is the prior and its decoder ignores z).\n"
        "- PPL = exp(total NLL / (words + sentences)), one end-of-sentence per sentence.\n"
        "- KL: nats per sentence; MI: He et al. 2019, aggregate posterior over the whole test set; "
        "active units: Cov_x(E[z]) > 0.01; BLEU: greedy decodes of the posterior means (sacrebleu).\n"
        "- train/eval minutes: wall time of `textvae train` / `textvae evaluate`; tokens/s: median of the "
        "logged training windows (real tokens, eos included); measured: the date and processor of the row "
        "(times are comparable only between rows of the same processor and day).\n\n"
        "Commands: `python scripts/bench_ptb.py` (the LM and VAE rows); an ablation row: `python "
        "scripts/bench_ptb.py --only KEY --eval-precision bf16` (KEY, config, overrides and evaluation precision "
        "are in each row's ptb.json entry).")
    (out / "ptb.json").write_text(json.dumps({"machine": machine, "rows": rows,
                                              "published": [dict(zip(("model", "perplexity", "nll", "mi",
                                                                      "active_units"), p)) for p in PUBLISHED]},
                                             indent=2) + "\n")
    (out / "ptb.md").write_text(markdown(rows, header))
    # The training curves of the rows whose runs are on this disk.
    logged = [r["key"] for r in rows if (Path(args.runs) / r["key"] / "logs" / "train.jsonl").is_file()]
    if logged:
        plot_curves([Path(args.runs) / key for key in logged], out / "ptb-curves.png")
    print(markdown(rows, header))
    print(f"done in {(time.perf_counter() - t0) / 60:.1f} min")


if __name__ == "__main__":
    main()
