"""The rows of scripts/bench_ptb.py: each row's config and overrides, the rows made from other rows
(two-stage runs, fitted priors, further training, distillation, evaluation variants) and the published
numbers beside them. scripts/bench_ptb.py trains, evaluates and tabulates them."""
from __future__ import annotations

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
# A bigger language model, to teach the 256-wide ones (loss.distill_from): Zaremba et al.'s medium size, two LSTM
# layers of 650 (embeddings 650, tied), dropout 0.5 also between the layers. About 4x the 256-wide model's work
# a token. Not at the size: only a teacher.
LSTM_650X2 = ["model.embed_size=650", "model.decoder.hidden_size=650", "model.decoder.num_layers=2",
              "model.decoder.dropout=0.5"]
# Training further from a model with a fitted mixture prior, against that prior (held fixed; its KL estimated,
# the floor of 0.25 nats a dimension on each sentence's total KL, 8 nats): every weight from the fitted model
# (the row's TUNED entry), KL weight 1, 10 epochs at a quarter of the learning rate, weight EMA 0.999.
TUNE_AGAINST_PRIOR = ["model.prior_components=16", "loss.free_bits=0.25", "loss.free_bits_per=example",
                      "loss.kl.kind=constant", "train.epochs=10", "train.lr=5e-4", "train.save_every=658",
                      "train.ema_decay=0.999"]


def _distilled_keys(name: str) -> tuple[str, str]:
    return (f"lm-dropout-0.5-epochs-60-ema-distilled-from-{name}",
            f"vae-li-recipe-dropout-0.5-epochs-60-ema-distilled-from-{name}")


def _li_vae_rows(vae: str, label: str, what: str, overrides: list[str]) -> dict:
    """A Li-recipe VAE row `vae` (LONGER_EMA, LI_RECIPE and `overrides`; its label) and its fitted-prior (GMM16)
    and wider-proposal rows, whose labels name it `what`; the shared autoencoder stage and the derived rows'
    registries are filled from LI_FAMILY below."""
    config = ("configs/text/ptb-lstm.yaml", [*LONGER_EMA, *LI_RECIPE, *overrides])
    fitted = f"LSTM VAE, Li et al.'s recipe, {what} (as above), + fitted prior (GMM, 16)"
    return {vae: (label, *config), vae + "-gmm16": (fitted, *config),
            vae + "-gmm16-wider1.25": (f"{fitted}, the bound's proposal q(z|x) 1.25x wider", *config)}


def _distilled_rows(name: str, whom: str, whom_again: str) -> dict:
    """The 60-epoch LM and Li-recipe VAE rows distilled from language models (`...-distilled-from-<name>`; top 32
    + the rest as one bin, weight 1), and the VAE's fitted-prior and wider-proposal rows; their teachers are
    registered below. whom, whom_again: the teachers in the labels."""
    lm, vae = _distilled_keys(name)
    kd = f"{whom} (top 32 + the rest as one bin, weight 1)"
    return {lm: (f"LSTM language model, dropout 0.5, 60 epochs, weight EMA 0.999, distilled from {kd}",
                 "configs/text/ptb-lm.yaml", LONGER_EMA),
            **_li_vae_rows(vae, f"LSTM VAE, dropout 0.5, 60 epochs, weight EMA 0.999, Li et al.'s recipe (as above), "
                                f"its decoder distilled from {kd}", f"decoder distilled from {whom_again}", [])}


# The output layer as a mixture of 3 softmaxes (Yang et al. 2018; model.decoder.softmaxes): ~2.7x the time a token.
MOS3 = ["model.decoder.softmaxes=3"]
# The mixture rows: name -> (the mixture in the labels, overrides). With dropout on the mixture's component features
# (Yang et al.'s dropoutl, 0.29 on PTB): the mixture VAE without it pulls ahead of its one-softmax twin, then loses
# ground as it overfits (train gap widening); at 0.3 its curve follows the twin's (epochs 10-14); 0.1 is between.
MOS_VARIANTS = {"mos3": ("a mixture of 3 softmaxes", MOS3),
                "mos3-mixture-dropout-0.3": ("a mixture of 3 softmaxes, dropout 0.3 on its component features",
                                             [*MOS3, "model.decoder.mixture_dropout=0.3"]),
                "mos3-mixture-dropout-0.1": ("a mixture of 3 softmaxes, dropout 0.1 on its component features",
                                             [*MOS3, "model.decoder.mixture_dropout=0.1"])}
# Born-again distillation: the Li-recipe VAE trained afresh, its decoder distilled from the best VAE's decoder (the
# Li-recipe model after 10 epochs against its fitted prior), which reads each training sentence at its own posterior
# mean: a teacher that sees the sentence through z, as the student's decoder does.
BORN_AGAIN = "vae-li-recipe-dropout-0.5-epochs-60-ema-born-again"
BORN_AGAIN_TEACHER = "vae-li-recipe-dropout-0.5-epochs-60-ema-gmm16-tuned-10"


def _born_again_rows() -> dict:
    return _li_vae_rows(BORN_AGAIN, "LSTM VAE, dropout 0.5, 60 epochs, weight EMA 0.999, Li et al.'s recipe (as above), "
                        "born again: its decoder distilled from the best VAE's (Li + GMM16 + 10 epochs against it) at "
                        "that VAE's posterior mean of each sentence (top 32 + the rest as one bin, weight 1)",
                        "born again", [])


def _mos_rows(name: str, what: str, overrides: list[str]) -> dict:
    """The 60-epoch LM and Li-recipe VAE rows with a mixture of softmaxes (`...-<name>`; `overrides`), and the
    VAE's fitted-prior and wider-proposal rows; its tuned rounds are added below. what: the mixture in the labels."""
    return {f"lm-dropout-0.5-epochs-60-ema-{name}": (f"LSTM language model, dropout 0.5, 60 epochs, weight EMA 0.999, "
                                                     f"{what}", "configs/text/ptb-lm.yaml", [*LONGER_EMA, *overrides]),
            **_li_vae_rows(f"vae-li-recipe-dropout-0.5-epochs-60-ema-{name}", "LSTM VAE, dropout 0.5, 60 epochs, weight "
                           f"EMA 0.999, Li et al.'s recipe (as above), {what}", what, overrides)}


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
    **_distilled_rows("3-lms", "the three 40-epoch AWD language models", "three language models"),
    "lm-650x2-dropout-0.5-awd-epochs-40": (
        "LSTM language model, 2 layers of 650 (a teacher, not at the issue's size), dropout 0.5, word-type dropout "
        "0.1, AR 2 / TAR 1, 40 epochs", "configs/text/ptb-lm.yaml", [*LONG, *AWD, *LSTM_650X2]),
    **_distilled_rows("lm-650x2", "the 650x2 language model", "the 650x2 language model"),
    **_born_again_rows(),
    "lm-mos3": ("LSTM language model, its output a mixture of 3 softmaxes (Yang et al. 2018)", "configs/text/ptb-lm.yaml",
                MOS3),
    **{k: v for name, (what, overrides) in MOS_VARIANTS.items() for k, v in _mos_rows(name, what, overrides).items()},
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
DISTILL = {"lm-distilled-from-3-lms": THREE_LMS, "lm-distilled-from-3-lms-no-rest-bin": THREE_LMS}
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
                     "vae-li-recipe-dropout-0.5-epochs-60-ema-gmm16", ["--proposal-scale", "1.25"])}


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
for _name, (_what, _overrides) in MOS_VARIANTS.items():
    add_tuned_rounds(f"vae-li-recipe-dropout-0.5-epochs-60-ema-{_name}-gmm16", 1,
                     f"LSTM VAE, Li et al.'s recipe, {_what} (as above)", [*LONGER_EMA[:2], *LI_RECIPE[:1], *_overrides])
# Training further on the importance-weighted bound that `evaluate` reports (IWAE, Burda et al. 2016;
# loss.iw_samples, which takes no free bits), beside the same further training on the ELBO as the control: every
# weight from the row's model, KL weight 1, free bits 0, 2 epochs at a quarter of the configs' learning rate.
IW_TUNE = ["loss.free_bits=0", "loss.kl.kind=constant", "train.epochs=2", "train.lr=5e-4", "train.save_every=658"]


def add_iw_tuned(base: str, name: str, overrides: list[str]) -> None:
    """Rows `<base>-iw<K>-tuned-2`: the row `base` (its label `name`, the `overrides` that build its model) trained
    2 more epochs (IW_TUNE) on the importance-weighted bound with K samples; K = 1 is the ELBO, the control."""
    for k in (5, 1):
        how = f"the importance-weighted bound with {k} samples (IWAE)" if k > 1 else "the ELBO (the control)"
        ABLATIONS[f"{base}-iw{k}-tuned-2"] = (f"{name}, then 2 more epochs on {how}, free bits 0, KL weight 1, a "
                                              f"quarter of the learning rate", "configs/text/ptb-lstm.yaml",
                                              [*overrides, *IW_TUNE, f"loss.iw_samples={k}"])
        TUNED[f"{base}-iw{k}-tuned-2"] = base


add_iw_tuned("vae", "LSTM VAE (textvae)", [])
# Li-recipe VAE rows that share the Li row's autoencoder stage, each with a fitted-prior (GMM16) and a wider-proposal
# row: key -> the teachers it is distilled from (none: not distilled).
LI_FAMILY = {_distilled_keys("3-lms")[1]: THREE_LMS, _distilled_keys("lm-650x2")[1]: ["lm-650x2-dropout-0.5-awd-epochs-40"],
             BORN_AGAIN: [BORN_AGAIN_TEACHER],
             **{f"vae-li-recipe-dropout-0.5-epochs-60-ema-{_name}": [] for _name in MOS_VARIANTS}}
for _name in ("3-lms", "lm-650x2"):  # the language models distilled from their VAE twins' teachers
    _lm, _vae = _distilled_keys(_name)
    DISTILL[_lm] = LI_FAMILY[_vae]
for _vae, _teachers in LI_FAMILY.items():
    if _teachers:
        DISTILL[_vae] = _teachers
    SHARED_PRETRAIN[_vae] = "vae-li-recipe-dropout-0.5-epochs-60-ema"
    FIT_PRIOR[_vae + "-gmm16"] = (_vae, 16)
    EVAL_VARIANTS[_vae + "-gmm16-wider1.25"] = (_vae + "-gmm16", ["--proposal-scale", "1.25"])
PUBLISHED = [  # (model, PPL, NLL, MI, active units); the rows of issue 4, from the papers
    ("LSTM language model (published)", 100.47, 101.04, None, None),
    ("VAE + monotonic annealing (published)", 101.40, None, 0.00, 0),
    ("aggressive training, He et al. 2019", 99.83, None, 0.83, 4),
    ("AE pre-training + free bits, Li et al. 2019", 96.86, None, 5.31, 32),
]
