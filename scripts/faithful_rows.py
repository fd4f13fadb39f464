"""The rows of scripts/bench_faithful.py: the configs, the corpora, every lever a row may move, and the
table of rows (what each is, its config, its overrides, its corpus, the row whose model it reuses)."""

from __future__ import annotations

LSTM, TRANSFORMER, PRETRAINED = (
    "configs/text/snli-lstm.yaml",
    "configs/text/snli-transformer.yaml",
    "configs/text/snli-pretrained.yaml",
)
LM_CONFIG = "configs/text/snli-lm.yaml"
PTB = "/work/shared/data/ptb"
# the language models of the fluency measure: configs/text/snli-lm.yaml (12 epochs) on each corpus; on PTB
# 3,000 steps (4.6 epochs), to keep the benchmark's time in bounds
LM_EXTRA = {"ptb": ["train.max_steps=3000"]}
CORPORA = {  # name -> data overrides (the shipped SNLI sample needs none)
    "snli": [],
    "polarity": [  # the split of the sentiment benchmark (scripts/attributes_sentiment.py): 80/10/10
        "data.train_file=runs/attributes/polarity/train.csv",
        "data.valid_file=runs/attributes/polarity/valid.csv",
    ],
    "ptb": [f"data.train_file={PTB}/ptb.train.txt.gz", f"data.valid_file={PTB}/ptb.valid.txt.gz"],
}


def levers(
    kl="cyclical",
    beta=1.0,
    free_bits=0.5,
    latent=32,
    word_dropout=0.3,
    deletion=0.0,
    epochs=12,
    precision="no",
    warmup=0,
    anneal=10000,
    fit_prior=0,
    last=False,
    z_to_output=False,
    lr=1e-3,
    schedule="constant",
    dropout=0.1,
    tokenizer="sentencepiece",
    min_count=2,
    threads=2,
    steps=0,
    family="lstm",
) -> list[str]:
    """Every lever a row may move, pinned on the command line, so that a row means the same whatever the
    yaml's defaults are (the defaults are the old snli-lstm.yaml's). The first rows ran with train.threads=1:
    the benchmark then shared 2 cores with several other jobs, where a 2-thread process loses most of its
    time waiting for its other thread. Transformer rows keep their yaml's learning rate, schedule and dropout
    unless the row names them."""
    words = (
        ["data.tokenizer.kind=word", f"data.tokenizer.min_count={min_count}"]
        if tokenizer == "word"
        else ["data.tokenizer.kind=sentencepiece", "data.tokenizer.vocab_size=4000"]
    )
    rnn = [
        f"model.decoder.z_to_output={str(z_to_output).lower()}",
        f"train.lr={lr}",
        f"train.lr_schedule={schedule}",
        f"model.embed_dropout={dropout}",
        f"model.output_dropout={dropout}",
    ]
    return [
        f"loss.kl.kind={kl}",
        f"loss.kl.max_weight={beta}",
        f"loss.kl.warmup_steps={warmup}",
        f"loss.kl.anneal_steps={anneal}",
        f"train.select_best={str(not last).lower()}",
        f"loss.free_bits={free_bits}",
        f"model.latent_size={latent}",
        f"model.word_dropout={word_dropout}",
        f"model.encoder_word_deletion={deletion}",
        f"train.epochs={epochs}",
        f"train.max_steps={steps}",
        f"train.mixed_precision={precision}",
        f"train.fit_prior={fit_prior}",
        f"train.threads={threads}",
        *words,
        *(rnn if family == "lstm" else [f"train.lr={lr}"] if lr != 1e-3 else []),
    ]


def fitted(row: str, steps: int = 25, corpus: str = "snli", model: str | None = None) -> tuple:
    """A row measuring `row`'s model (its folder `model`, if not the row's own) with each code of a
    reconstruction or path end fitted to its sentence by `steps` Adam steps (`--fit-steps`)."""
    return (
        f"{row}'s model with codes fitted to their sentences (`--fit-steps {steps}`)",
        None,
        ["--fit-steps", str(steps)],
        corpus,
        model or row,
    )


# key -> (what it is, config, overrides, corpus, base row of a fitted prior or None)
LOW_BETA = {
    "kl": "constant",
    "beta": 0.1,
    "free_bits": 0.0,
    "latent": 64,
    "epochs": 12,
    "precision": "bf16",
    "threads": 1,
}
# the levers of 2026-12-03: z also added to the decoder's output, a learning rate 3x higher decayed on a cosine
FAST = {"z_to_output": True, "lr": 3e-3, "schedule": "cosine", "precision": "bf16", "latent": 64}
BUDGET = {**FAST, "kl": "constant", "beta": 1.0, "free_bits": 0.75, "epochs": 28, "fit_prior": 16}
# the shipped snli-lstm.yaml since 2026-12-03 (lstm-budget2.5-words); -default rows run it as shipped
DEFAULT = {**BUDGET, "free_bits": 2.5, "tokenizer": "word", "steps": 6000, "last": True}
# the shipped snli-transformer.yaml's levers: DEFAULT's, 3,000 steps at its learning rate 1e-3
TRANSFORMER_DEFAULT = levers(**{**DEFAULT, "steps": 3000, "lr": 1e-3}, family="transformer")
PRETRAINED_STEPS = 1500  # a step of 16 sentences through both backbones takes ~1 s on 2 cores
ROWS = {
    "lstm-old-default": (
        "the old snli-lstm.yaml: cyclical KL to weight 1, free bits 0.5, code 32, 12 epochs",
        LSTM,
        levers(),
        "snli",
        None,
    ),
    "lstm-beta0.1-z64": (
        "KL weight 0.1 from the start (no annealing, no free bits), code 64, 12 epochs in bf16",
        LSTM,
        levers(**LOW_BETA),
        "snli",
        None,
    ),
    "lstm-ae6-beta0.1-z64": (
        "an autoencoder stage: KL weight 0 for the first 6 epochs (942 steps), then a linear "
        "ramp to 0.1 over 471 steps; no free bits, code 64, 12 epochs in bf16, the last "
        "weights kept (the best validation -ELBO is not what a KL weight of 0.1 optimises)",
        LSTM,
        levers(**{**LOW_BETA, "kl": "linear"}, warmup=942, anneal=471, last=True),
        "snli",
        None,
    ),
    "lstm-ae6-beta0.1-z64-gmm16": (
        "lstm-ae6-beta0.1-z64 with a 16-component Gaussian mixture fitted to its codes "
        "of the training sentences as its prior (`textvae fit-prior`)",
        LSTM,
        [],
        "snli",
        "lstm-ae6-beta0.1-z64",
    ),
    "lstm-ae-zout-cos": (
        "an autoencoder (KL weight 0, no free bits: the ceiling of reconstruction; its prior "
        "N(0, I) is far from its codes), code 64, z also added to the decoder's output, learning "
        "rate 3e-3 on a cosine, 20 epochs in bf16, the last weights",
        LSTM,
        levers(**{**FAST, "kl": "constant", "beta": 0.0, "free_bits": 0.0, "epochs": 20}, last=True),
        "snli",
        None,
    ),
    "lstm-budget0.75": (
        "KL weight 1 with a free-bits floor of 0.75 nats on each of 64 dimensions (a budget of 48 "
        "nats the code keeps for free), z also added to the decoder's output, learning rate 3e-3 on "
        "a cosine, 28 epochs (4,396 steps) in bf16, a 16-component mixture prior fitted after "
        "training, the weights of the best validation -ELBO",
        LSTM,
        levers(**BUDGET),
        "snli",
        None,
    ),
    "lstm-budget0.75-denoise": (
        "lstm-budget0.75 with 10% of the encoder's words deleted and dropout 0.3 (embeddings, output features)",
        LSTM,
        levers(**BUDGET, deletion=0.1, dropout=0.3),
        "snli",
        None,
    ),
    "lstm-budget0.75-words": (
        "lstm-budget0.75 with a word-level vocabulary (words seen twice or more: 3,075)",
        LSTM,
        levers(**BUDGET, tokenizer="word"),
        "snli",
        None,
    ),
    "lstm-budget1.5-words": (
        "lstm-budget0.75-words with a floor of 1.5 nats a dimension (a budget of 96 nats)",
        LSTM,
        levers(**{**BUDGET, "free_bits": 1.5}, tokenizer="word"),
        "snli",
        None,
    ),
    "lstm-budget2.5-words": (
        "the new snli-lstm.yaml: lstm-budget0.75-words with a floor of 2.5 nats a dimension "
        "(a budget of 160 nats), 6,000 steps, the last weights",
        LSTM,
        levers(**DEFAULT),
        "snli",
        None,
    ),
    "lstm-budget2.5-words1": (
        "lstm-budget2.5-words with every training word in the vocabulary (min_count 1: 5,277 words; 80.8% of "
        "the validation sentences have no unknown word, against 68.2% at min_count 2)",
        LSTM,
        levers(**DEFAULT, min_count=1),
        "snli",
        None,
    ),
    "lstm-budget2.5-pieces": (
        "lstm-budget2.5-words with 4,000 sentencepiece pieces instead of words (no sentence out of reach)",
        LSTM,
        levers(**{**DEFAULT, "tokenizer": "sentencepiece"}),
        "snli",
        None,
    ),
    "lstm-budget2.5-replace0.1": (
        "lstm-budget2.5-words with 10% of the tokens replaced by uniformly drawn words in training, in the "
        "encoder's input and the decoder's target alike (model.word_replacement 0.1)",
        LSTM,
        [*levers(**DEFAULT), "model.word_replacement=0.1"],
        "snli",
        None,
    ),
    "lstm-budget2.5-replace0.1-fit25": (
        "lstm-budget2.5-replace0.1's model with each code of a reconstruction or path end fitted to its "
        "sentence by 25 Adam steps on log p(x|z) after the encoder (`--fit-steps 25`, what `textvae "
        "reconstruct` and `interpolate` do by default)",
        None,
        ["--fit-steps", "25"],
        "snli",
        "lstm-budget2.5-replace0.1",
    ),
    "lstm-budget2.5-replace0.2": (
        "lstm-budget2.5-replace0.1 with 20% of the tokens replaced",
        LSTM,
        [*levers(**DEFAULT), "model.word_replacement=0.2"],
        "snli",
        None,
    ),
    "transformer-default": (
        "configs/text/snli-transformer.yaml as shipped (cyclical KL to 1, free bits 0.5, code 32, 12 epochs)",
        TRANSFORMER,
        levers(family="transformer"),
        "snli",
        None,
    ),
    "transformer-budget2.5-words": (
        "the new snli-transformer.yaml: the levers of lstm-budget2.5-words but z to the "
        "output (an RNN's), learning rate 1e-3 on its cosine with 200 warm-up steps, "
        "3,000 steps (a Transformer step costs twice an LSTM's here)",
        TRANSFORMER,
        TRANSFORMER_DEFAULT,
        "snli",
        None,
    ),
    "transformer-budget2.5-words-fit25": fitted("transformer-budget2.5-words"),
    "transformer-budget2.5-words-fit50": fitted("transformer-budget2.5-words", steps=50),
    "transformer-budget2.5-words-fit100": fitted("transformer-budget2.5-words", steps=100),
    "transformer-replace0.1": (
        "transformer-budget2.5-words with 10% of the tokens replaced by uniformly drawn words in training "
        "(model.word_replacement 0.1)",
        TRANSFORMER,
        [*TRANSFORMER_DEFAULT, "model.word_replacement=0.1"],
        "snli",
        None,
    ),
    "transformer-replace0.05": (
        "transformer-budget2.5-words with 5% of the tokens replaced by uniformly drawn words in training "
        "(model.word_replacement 0.05): at 0.1 prior samples lost their fluency",
        TRANSFORMER,
        [*TRANSFORMER_DEFAULT, "model.word_replacement=0.05"],
        "snli",
        None,
    ),
    "transformer-replace0.05-fit25": fitted("transformer-replace0.05"),
    "transformer-replace0.1-fit25": fitted("transformer-replace0.1"),
    "transformer-replace0.1-original": (
        "transformer-replace0.1 with the sentence's own word as the decoder's target where a word was replaced "
        "(model.word_replacement_targets original): the encoder and the decoder's inputs read the drawn word, "
        "the decoder never learns to write one",
        TRANSFORMER,
        [*TRANSFORMER_DEFAULT, "model.word_replacement=0.1", "model.word_replacement_targets=original"],
        "snli",
        None,
    ),
    "transformer-replace0.1-original-fit25": fitted("transformer-replace0.1-original"),
    "transformer-replace0.1-skipped": (
        "transformer-replace0.1 with no loss where a word was replaced (model.word_replacement_targets skipped)",
        TRANSFORMER,
        [*TRANSFORMER_DEFAULT, "model.word_replacement=0.1", "model.word_replacement_targets=skipped"],
        "snli",
        None,
    ),
    "transformer-replace0.1-skipped-fit25": fitted("transformer-replace0.1-skipped"),
    "lstm-replace0.1-steps3000": (
        "lstm-budget2.5-replace0.1 (the shipped snli-lstm.yaml) in half the steps: 3,000, its cosine with them",
        LSTM,
        [*levers(**{**DEFAULT, "steps": 3000}), "model.word_replacement=0.1"],
        "snli",
        None,
    ),
    "lstm-replace0.1-steps3000-fit25": fitted("lstm-replace0.1-steps3000"),
    "lstm-skipped-steps3000": (
        "lstm-replace0.1-steps3000 with no loss where a word was replaced (model.word_replacement_targets "
        "skipped): at 3,000 steps its prior samples lost their fluency",
        LSTM,
        [
            *levers(**{**DEFAULT, "steps": 3000}),
            "model.word_replacement=0.1",
            "model.word_replacement_targets=skipped",
        ],
        "snli",
        None,
    ),
    "lstm-skipped-steps3000-fit25": fitted("lstm-skipped-steps3000"),
    "transformer-steps6000": (
        "transformer-budget2.5-words in the LSTM default's 6,000 steps, its cosine with them: at 3,000 the "
        "validation reconstruction was still falling (11.9 nats a sentence, the LSTM's 6.9 at 6,000)",
        TRANSFORMER,
        levers(**{**DEFAULT, "steps": 6000, "lr": 1e-3}, family="transformer"),
        "snli",
        None,
    ),
    "transformer-steps6000-fit25": fitted("transformer-steps6000"),
    "pretrained-default": (
        "configs/text/snli-pretrained.yaml as shipped (MiniLM encoder, SmolLM2-135M decoder; cyclical KL, "
        "free bits 0.5, code 32, 1,500 steps of 16 sentences)",
        PRETRAINED,
        [],
        "snli",
        None,
    ),
    "pretrained-budget2.5": (
        "snli-pretrained.yaml with the LSTM default's code: 64 dimensions, KL weight 1 with a free-bits floor "
        "of 2.5 nats each, the last weights, a fitted 16-component mixture prior; validated once, at the end",
        PRETRAINED,
        [
            "loss.kl.kind=constant",
            "loss.kl.max_weight=1.0",
            "loss.free_bits=2.5",
            "model.latent_size=64",
            "train.select_best=false",
            "train.fit_prior=16",
            f"train.max_steps={PRETRAINED_STEPS}",
            f"train.eval_every={PRETRAINED_STEPS}",
            f"train.save_every={PRETRAINED_STEPS}",
        ],
        "snli",
        None,
    ),
    "polarity-default": (
        "the new snli-lstm.yaml as shipped, on sentence polarity (8,529 training and 1,066 validation sentences "
        "of the sentiment benchmark's 80/10/10 split): its run without the regulariser, trained by `python "
        "scripts/bench_attributes.py --only sentiment`",
        None,
        [],
        "polarity",
        "../attributes/sentiment-base",
    ),
    "polarity-default-fit25": fitted("polarity-default", corpus="polarity", model="../attributes/sentiment-base"),
    "polarity-default-fit100": fitted(
        "polarity-default", steps=100, corpus="polarity", model="../attributes/sentiment-base"
    ),
    "polarity-budget5": (
        "the new snli-lstm.yaml on sentence polarity with a free-bits floor of 5 nats a dimension (a budget of "
        "320 nats): polarity-default's training KL sits at its budget (153 of 160 nats)",
        LSTM,
        [*levers(**{**DEFAULT, "free_bits": 5.0}), "model.word_replacement=0.1"],
        "polarity",
        None,
    ),
    "polarity-budget5-fit25": fitted("polarity-budget5", corpus="polarity"),
    "lstm-budget5-replace0.1": (
        "lstm-budget2.5-replace0.1 (the shipped snli-lstm.yaml) with a free-bits floor of 5 nats a dimension",
        LSTM,
        [*levers(**{**DEFAULT, "free_bits": 5.0}), "model.word_replacement=0.1"],
        "snli",
        None,
    ),
    "lstm-budget5-replace0.1-fit25": fitted("lstm-budget5-replace0.1"),
    "ptb-default": (
        "the new snli-lstm.yaml as shipped, on the Penn Treebank (42,068 training sentences, 3,370 validation)",
        LSTM,
        [],
        "ptb",
        None,
    ),
    "lstm-old-default-gmm16": (
        "lstm-old-default with a fitted 16-component mixture prior",
        LSTM,
        [],
        "snli",
        "lstm-old-default",
    ),
}
