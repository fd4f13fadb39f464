"""The rows of scripts/bench_ptb.py: what each row trains, fits or evaluates, and the published numbers
beside them.

Only the rows that benchmarks/ptb.md shows are here, with the runs they are made from. The rows of
earlier studies (distillation, IWAE training, locked dropout, weight drop, the unfinished mixture and
two-layer runs, ...) are in docs/benchmarks/ptb.md with their numbers, and in git history.

A row is one of:
  Train(label, config, overrides, stage=, init_from=)  `textvae train`; `stage` names a first stage in
      STAGES, trained once into <runs>/<stage>.pretrain, that this run starts from (train.init_from);
      `init_from` names a row whose whole model this run starts from (training further).
  FitPrior(label, of, components)  `textvae fit-prior` on row `of`'s model (on ptb.train).
  Evaluate(label, of, arguments)   row `of`'s model evaluated with extra `textvae evaluate` arguments.
A row's training time adds up every run it is made from.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Train:
    label: str
    config: str
    overrides: tuple[str, ...] = ()
    stage: str = ""  # a key of STAGES
    init_from: str = ""  # a row's key


@dataclass(frozen=True)
class FitPrior:
    label: str
    of: str
    components: int = 16


@dataclass(frozen=True)
class Evaluate:
    label: str
    of: str
    arguments: tuple[str, ...] = ()


LM = "configs/text/ptb-lm.yaml"
VAE = "configs/text/ptb-lstm.yaml"

# Stronger dropout and longer training (Li et al. train 100 epochs with dropout 0.5); a checkpoint each epoch
# (658 steps), so that --reuse continues a run after an interruption.
DROPOUT_05 = ("model.embed_dropout=0.5", "model.output_dropout=0.5")
EPOCHS_40 = (*DROPOUT_05, "train.epochs=40", "train.save_every=658")
# ... longer still, and the saved model an exponential moving average of the weights.
EPOCHS_60_EMA = (*DROPOUT_05, "train.epochs=60", "train.save_every=658", "train.ema_decay=0.999")
# AWD-LSTM's other decoder regularisers (Merity et al. 2018), at their values: word-type dropout 0.1, AR 2, TAR 1.
AWD = ("model.decoder.word_type_dropout=0.1", "model.activation_reg=2", "model.temporal_activation_reg=1")
# Li et al.'s recipe as their released code reads (text_anneal_fb.py --reset_dec --kl_start 0 --warm_up 10
# --target_kl 8 --fb 2): the encoder has its own embedding; only it and the posterior head are kept from the
# autoencoder stage (STAGES["...li-recipe..."]), the decoder starts afresh; the KL weight rises linearly from 0
# over 10 epochs; each sentence's KL of each dimension below 8 / 32 nats is not penalised.
LI_RECIPE = (
    "model.share_embeddings=false",
    "train.init_parts=[enc_embedding,encoder,to_posterior]",
    "loss.free_bits=0.25",
    "loss.free_bits_per=example",
    "loss.kl.kind=linear",
    "loss.kl.anneal_steps=6580",
)
# The output layer as a mixture of 3 softmaxes (Yang et al. 2018), dropout 0.1 on its component features
# (Yang et al.'s dropoutl): ~2.7x the time a token.
MOS3_DROPOUT_01 = ("model.decoder.softmaxes=3", "model.decoder.mixture_dropout=0.1")
# Training further against a fitted mixture prior (held fixed; its KL estimated; the floor of 0.25 nats a
# dimension on each sentence's total KL): every weight from the fitted model, KL weight 1, 10 epochs at a
# quarter of the learning rate, weight EMA 0.999.
TUNE_AGAINST_PRIOR = (
    "model.prior_components=16",
    "loss.free_bits=0.25",
    "loss.free_bits_per=example",
    "loss.kl.kind=constant",
    "train.epochs=10",
    "train.lr=5e-4",
    "train.save_every=658",
    "train.ema_decay=0.999",
)
WIDER = ("--proposal-scale", "1.25")  # the bound's proposal q(z|x) with every standard deviation 1.25x

# The autoencoder stages (Li et al. 2019's pre-training; KL weight 0): stage -> (config, overrides). A stage keeps
# its last weights (its -ELBO, with an unpenalised KL, says nothing); a checkpoint an epoch, so --reuse resumes it.
AE_STAGE = (
    "loss.kl.kind=constant",
    "loss.kl.max_weight=0",
    "loss.free_bits=0",
    "train.epochs=10",
    "train.select_best=false",
    "train.save_every=658",
)
STAGES = {
    "vae-ae-pretrained-dropout-0.5-epochs-60-ema": (VAE, (*AE_STAGE, *DROPOUT_05)),
    "vae-li-recipe-dropout-0.5-epochs-60-ema": (VAE, (*AE_STAGE, *DROPOUT_05, "model.share_embeddings=false")),
}

LI = "vae-li-recipe-dropout-0.5-epochs-60-ema"
LI_LABEL = (
    "LSTM VAE, dropout 0.5, 60 epochs, weight EMA 0.999, Li et al.'s recipe as their code reads: encoder "
    "(own embedding) from an autoencoder, decoder afresh, free bits 0.25 per example and dimension, KL "
    "weight linear from 0 over 10 epochs"
)
AE60 = "vae-ae-pretrained-dropout-0.5-epochs-60-ema"
AE60_LABEL = "LSTM VAE, dropout 0.5, 60 epochs, weight EMA 0.999, AE pre-trained"
MOS = f"{LI}-mos3-mixture-dropout-0.1"
MOS_LABEL = "LSTM VAE, Li et al.'s recipe (as above), a mixture of 3 softmaxes, dropout 0.1 on its component features"
GMM16 = "+ fitted prior (GMM, 16)"
WIDER_LABEL = "the bound's proposal q(z|x) 1.25x wider"

# In the order of benchmarks/ptb.md. The headline row is HEADLINE (configs/text/ptb-best*.yaml, scripts/ptb_best.sh).
ROWS = {
    # The shipped configs, and their language-model baseline.
    "lm": Train("LSTM language model (textvae)", LM),
    "vae": Train("LSTM VAE (textvae)", VAE),
    "vae-gmm16": FitPrior("LSTM VAE, + prior fitted after training (Gaussian mixture, 16 components)", "vae"),
    "vae-free-bits-0.5-word-dropout-0.1": Train(
        "LSTM VAE, free bits 0.5, word dropout 0.1 (the earlier shipped config)",
        VAE,
        ("loss.free_bits=0.5", "model.word_dropout=0.1"),
    ),
    "vae-z-to-output": Train(
        "LSTM VAE, z also added to the decoder's output at every step (Skip-VAE)",
        VAE,
        ("model.decoder.z_to_output=true",),
    ),
    "lm-dropout-0.25": Train(
        "LSTM language model, dropout 0.25", LM, ("model.embed_dropout=0.25", "model.output_dropout=0.25")
    ),
    # Stronger dropout, longer training.
    "lm-dropout-0.5-epochs-40": Train("LSTM language model, dropout 0.5, 40 epochs", LM, EPOCHS_40),
    "vae-dropout-0.5-epochs-40": Train("LSTM VAE, dropout 0.5, 40 epochs", VAE, EPOCHS_40),
    "vae-dropout-0.5-epochs-40-gmm16": FitPrior(
        "LSTM VAE, dropout 0.5, 40 epochs, + prior fitted after training (Gaussian mixture, 16 components)",
        "vae-dropout-0.5-epochs-40",
    ),
    "vae-dropout-0.5-epochs-40-gmm16-wider1.25": Evaluate(
        f"LSTM VAE, dropout 0.5, 40 epochs, {GMM16}, {WIDER_LABEL}", "vae-dropout-0.5-epochs-40-gmm16", WIDER
    ),
    "lm-dropout-0.5-epochs-60-ema": Train(
        "LSTM language model, dropout 0.5, 60 epochs, weight EMA 0.999", LM, EPOCHS_60_EMA
    ),
    "lm-dropout-0.5-awd-epochs-40": Train(
        "LSTM language model, dropout 0.5, word-type dropout 0.1, AR 2 / TAR 1, 40 epochs", LM, (*EPOCHS_40, *AWD)
    ),
    "lm-dropout-0.5-awd-epochs-40-seed1": Train(
        "LSTM language model, dropout 0.5, word-type dropout 0.1, AR 2 / TAR 1, 40 epochs, seed 1",
        LM,
        (*EPOCHS_40, *AWD, "train.seed=1"),
    ),
    "lm-dropout-0.5-awd-sgd-epochs-40": Train(
        "LSTM language model, dropout 0.5, word-type dropout 0.1, AR 2 / TAR "
        "1, SGD at learning rate 1 (as He et al. and Li et al. train), 40 "
        "epochs",
        LM,
        (*EPOCHS_40, *AWD, "train.optimizer=sgd", "train.lr=1.0"),
    ),
    # The encoder (and the shared embedding, which lives in the decoder) from an autoencoder stage.
    AE60: Train(
        "LSTM VAE, dropout 0.5, 60 epochs, weight EMA 0.999, encoder pre-trained as an autoencoder",
        VAE,
        (*EPOCHS_60_EMA, "train.init_parts=[encoder,to_posterior,decoder.embedding]"),
        stage=AE60,
    ),
    f"{AE60}-gmm16": FitPrior(f"{AE60_LABEL}, {GMM16}", AE60),
    f"{AE60}-gmm16-wider1.25": Evaluate(f"{AE60_LABEL}, {GMM16}, {WIDER_LABEL}", f"{AE60}-gmm16", WIDER),
    # Li et al.'s recipe.
    LI: Train(LI_LABEL, VAE, (*EPOCHS_60_EMA, *LI_RECIPE), stage=LI),
    f"{LI}-gmm16": FitPrior(
        f"LSTM VAE, dropout 0.5, 60 epochs, weight EMA 0.999, Li et al.'s recipe (as above), {GMM16}", LI
    ),
    f"{LI}-gmm16-wider1.25": Evaluate(
        f"LSTM VAE, dropout 0.5, 60 epochs, weight EMA 0.999, Li et al.'s recipe (as above), {GMM16}, {WIDER_LABEL}",
        f"{LI}-gmm16",
        WIDER,
    ),
    f"{LI}-gmm16-tuned-10": Train(
        f"LSTM VAE, Li et al.'s recipe (as above), {GMM16}, then 10 more epochs against "
        "that prior (held fixed), evaluated with the prior it trained against",
        VAE,
        (*DROPOUT_05, "model.share_embeddings=false", *TUNE_AGAINST_PRIOR),
        init_from=f"{LI}-gmm16",
    ),
    f"{LI}-gmm16-tuned-10-gmm16": FitPrior(
        f"LSTM VAE, Li et al.'s recipe (as above), {GMM16}, then 10 more epochs "
        "against that prior (held fixed), + prior refitted (GMM, 16)",
        f"{LI}-gmm16-tuned-10",
    ),
    f"{LI}-gmm16-tuned-10-gmm16-wider1.25": Evaluate(
        f"LSTM VAE, Li et al.'s recipe (as above), {GMM16}, then 10 "
        "more epochs against that prior (held fixed), + prior refitted "
        f"(GMM, 16), {WIDER_LABEL}",
        f"{LI}-gmm16-tuned-10-gmm16",
        WIDER,
    ),
    # The output layer a mixture of softmaxes.
    "lm-mos3": Train(
        "LSTM language model, its output a mixture of 3 softmaxes (Yang et al. 2018)",
        LM,
        ("model.decoder.softmaxes=3",),
    ),
    MOS: Train(MOS_LABEL, VAE, (*EPOCHS_60_EMA, *LI_RECIPE, *MOS3_DROPOUT_01), stage=LI),
    f"{MOS}-gmm16": FitPrior(f"{MOS_LABEL}, {GMM16}", MOS),
    f"{MOS}-gmm16-wider1.25": Evaluate(f"{MOS_LABEL}, {GMM16}, {WIDER_LABEL}", f"{MOS}-gmm16", WIDER),
}
HEADLINE = f"{MOS}-gmm16-wider1.25"  # test PPL 93.12

PUBLISHED = [  # (model, PPL, NLL, MI, active units); the rows of issue 4, from the papers
    ("LSTM language model (published)", 100.47, 101.04, None, None),
    ("VAE + monotonic annealing (published)", 101.40, None, 0.00, 0),
    ("aggressive training, He et al. 2019", 99.83, None, 0.83, 4),
    ("AE pre-training + free bits, Li et al. 2019", 96.86, None, 5.31, 32),
]
