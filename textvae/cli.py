"""The `textvae` command line. Heavy libraries are imported inside the verbs, so --help is fast."""

from __future__ import annotations

import argparse
import sys

from .errors import UserError

GEN_HELP = "generation: greedy, sampling with temperature/top-k/top-p, or beam search"


def _add_generation(p: argparse.ArgumentParser, default: str = "greedy") -> None:
    g = p.add_argument_group(GEN_HELP)
    g.add_argument("--strategy", choices=["greedy", "sample", "beam"], default=default, help="how each token is chosen")
    g.add_argument("--temperature", type=float, default=1.0, help="sample: divide the logits by this")
    g.add_argument("--top-k", type=int, default=0, help="keep the k most likely tokens (0: all)")
    g.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass (1: all)")
    g.add_argument("--beam-size", type=int, default=5, help="beam: hypotheses kept")
    g.add_argument("--max-length", type=int, default=None, help="tokens (default: the model's training maximum)")
    g.add_argument("--seed", type=int, default=0, help="random seed of sampling")


def _add_fit(p) -> None:
    p.add_argument(
        "--fit-steps",
        type=int,
        default=None,
        help="Adam steps fitting each sentence's code to the sentence after the encoder, so that it decodes "
        "back to it (default: the model's model.fit_steps, 25 unless its config set another; 0: the "
        "encoder's posterior mean as it is)",
    )


def _add_set(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a latent dimension (an attribute's name, or its number) in every code; repeatable",
    )


def _add_attribute_verbs(sub) -> None:
    """traverse, attribute-vector, shift: dimensions with a meaning (loss.attributes) and attribute vectors."""
    p = sub.add_parser(
        "traverse",
        help="decode codes with one dimension swept over values (text: lines; images: a PNG)",
        description="Each input's posterior mean with one dimension (--attribute NAME or --dim N) set "
        "to each of --values, the other dimensions kept. Text: a block of lines a sentence; "
        "images: a grid PNG, a row per test image (its input first), a column per value.",
    )
    p.add_argument("model_dir", help="a trained model's folder (config.json, model.safetensors, tokenizer)")
    p.add_argument("sentences", nargs="*", help="text models: the sentences to traverse")
    p.add_argument("--attribute", help="the attribute's name (saved with the model)")
    p.add_argument("--dim", type=int, help="a latent dimension by number")
    p.add_argument("--values", default="-3:3:7", help="LOW:HIGH:COUNT or a comma list (default -3:3:7)")
    p.add_argument("-n", type=int, default=8, help="image models: test images, a row each (default 8)")
    p.add_argument("--output", help="image models: PNG path (default traverse.png)")
    _add_generation(p)

    p = sub.add_parser(
        "attribute-vector",
        help="text: mean code of one group minus another's, to .npy",
        description="Encode the rows of --data whose --column is --from and those where it is --to; "
        "write the difference of their mean posterior means (D,) float32 to --output.",
    )
    p.add_argument("model_dir", help="a trained model's folder (config.json, model.safetensors, tokenizer)")
    p.add_argument("--data", required=True, help="CSV/JSONL/parquet with the sentences and the column")
    p.add_argument("--column", required=True, help="the column of --data that holds each sentence's group")
    p.add_argument("--from", dest="from_value", required=True, metavar="VALUE", help="the group the vector starts at")
    p.add_argument("--to", dest="to_value", required=True, metavar="VALUE", help="the group the vector points to")
    p.add_argument("--text-column", default=None, help="the sentences' column (default: the training run's, or text)")
    p.add_argument("--output", required=True, help=".npy path")
    p.add_argument("--batch-size", type=int, default=256, help="examples at a time")

    p = sub.add_parser("shift", help="text: decode sentences moved along an attribute vector")
    p.add_argument("model_dir", help="a trained model's folder (config.json, model.safetensors, tokenizer)")
    p.add_argument("sentences", nargs="+", help="one or more sentences")
    p.add_argument("--vector", required=True, help=".npy written by `textvae attribute-vector`")
    p.add_argument("--scale", type=float, default=1.0, help="multiple of the vector added to each code")
    _add_generation(p)


def _add_map_verbs(sub) -> None:
    """map and demo: looking at a trained model (text or image)."""
    p = sub.add_parser(
        "map",
        help="the latent map: posterior means in 2-D as a PNG, the points as a CSV beside it",
        description="Posterior means of up to --max-points inputs (text: --data, default the run's "
        "training file; images: the test split) projected to 2-D (a 2-D latent as it is), "
        "coloured by --column, --color or --attribute, a few points annotated; the points "
        "and their inputs go to a CSV beside the PNG.",
    )
    p.add_argument("model_dir", help="a trained model's folder (config.json, model.safetensors, tokenizer)")
    p.add_argument("--data", help="text: CSV/JSONL/parquet or one sentence a line; images: idx/npz/folder")
    p.add_argument("--text-column", default=None, help="text: the sentences' column (default: the run's, or text)")
    p.add_argument("--column", help="colour by this column of --data (labels: a legend; numbers: a colour bar)")
    p.add_argument(
        "--color",
        "--colour",
        dest="color",
        help="colour by a computed attribute (text: length, the default; images: ink, width, ...)",
    )
    p.add_argument("--attribute", help="colour by the code's value in the dimension of this attribute of the model")
    p.add_argument(
        "--method",
        choices=["pca", "tsne", "umap"],
        default="pca",
        help="projection for latents wider than 2 (umap needs umap-learn; default pca)",
    )
    p.add_argument("--max-points", type=int, default=5000, help="a seeded random subset of this many (default 5000)")
    p.add_argument(
        "--neighbours",
        "--neighbors",
        dest="neighbours",
        metavar="SENTENCE",
        help="text: print the sentences nearest to this one in code space (cosine and Euclidean) and "
        "mark it on the map",
    )
    p.add_argument("-k", type=int, default=5, help="neighbours printed per measure (default 5)")
    p.add_argument("--output", default="map.png", help="PNG path (default map.png; the CSV beside it)")
    p.add_argument("--seed", type=int, default=0, help="random seed")

    p = sub.add_parser(
        "demo",
        help="a local web page to play with a model (gradio; pip install 'textvae[demo]')",
        description="Tabs Interpolate, Sample / Reconstruct, Map and Dials for a text or image model, "
        "served on http://HOST:PORT until interrupted.",
    )
    p.add_argument("model_dir", help="a trained model's folder (config.json, model.safetensors, tokenizer)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="the port the page is served on")
    p.add_argument("--data", help="what the Map tab shows (default: the run's validation data)")
    p.add_argument("--max-points", type=int, default=2000, help="points on the Map tab (default 2000)")
    p.add_argument(
        "--method",
        choices=["pca", "tsne", "umap"],
        default="pca",
        help="the Map tab's projection (pca: a click decodes PCA's inverse; tsne, umap: the mean code "
        "of the nearest points)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: an action is small work, a second thread mostly waits)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="textvae",
        description="Variational autoencoders of sentences and images.",
        epilog="Run any verb under `accelerate launch -m textvae ...` to use several processes.",
    )
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    p = sub.add_parser(
        "train",
        help="train a model from a YAML config, or continue a run",
        description="Train a VAE. Overrides are key.sub=value, e.g. train.max_steps=100; every config "
        "key is described in docs/reference/config.md (and configs/ holds examples).",
        epilog="A folder that holds a model or checkpoints is never trained over: continue its run "
        "with `textvae train --resume auto --output-dir RUN` (RUN/train_config.yaml is the "
        "config; values given again must agree with it, except train.max_steps, epochs, lr and "
        "what is saved, logged or shown), or start afresh with --overwrite.",
    )
    p.add_argument("--config", help="YAML file under configs/ (a resumed run without it reads RUN/train_config.yaml)")
    p.add_argument("--output-dir", help="model folder (overrides train.output_dir)")
    p.add_argument(
        "--resume",
        nargs="?",
        const="auto",
        default=None,
        help="continue from the latest checkpoint in the output folder, or from the given one",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="empty an output folder that holds an earlier run (model, checkpoints, logs) and start afresh",
    )
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. train.max_steps=100")

    p = sub.add_parser(
        "curves",
        help="plot training curves of one or more runs into a PNG",
        description="Validation -ELBO, validation KL and training loss against the step, a line "
        "per run, read from each run folder's logs/train.jsonl.",
    )
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="output folders of `textvae train`")
    p.add_argument("--output", default="curves.png", help="PNG path (default: curves.png)")

    p = sub.add_parser("evaluate", help="importance-weighted NLL, KL, MI, active units (and PPL, BLEU for text)")
    p.add_argument("model_dir", help="a trained model's folder (config.json, model.safetensors, tokenizer)")
    p.add_argument("--data", help="file to evaluate on (text: one sentence a line; images: idx/npz/folder)")
    p.add_argument(
        "--iw-samples", type=int, default=500, help="k of the importance-weighted bound (0: skip NLL and PPL)"
    )
    p.add_argument(
        "--refine-steps",
        type=int,
        default=0,
        help="Adam steps on each example's own q(z|x) before the bound (semi-amortized; default 0)",
    )
    p.add_argument("--refine-lr", type=float, default=0.02, help="their learning rate (default 0.02)")
    p.add_argument(
        "--proposal-scale",
        type=float,
        default=1.0,
        help="draw the bound's samples from q(z|x) with its standard deviations times this (default 1)",
    )
    p.add_argument(
        "--batch-size", type=int, default=None, help="examples at a time (default 16 with the bound, 128 without)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--output", help="write the numbers to this JSON file")
    p.add_argument("--mixed-precision", choices=["no", "bf16", "fp16"], default="no", help="autocast precision")
    p.add_argument(
        "--faithfulness",
        action="store_true",
        help="text: also the trade-off report (reconstruction, interpolation endpoints and smoothness, "
        "sample diversity) on random sentences of --data, as faithfulness.json after training",
    )
    p.add_argument(
        "--fluency-lm",
        metavar="LM_DIR",
        help="text: a language model (model.encoder.kind=none) trained on the same data: adds the "
        "per-word perplexity it gives prior samples beside the data's own (implies --faithfulness)",
    )
    p.add_argument(
        "--fit-steps",
        type=int,
        default=0,
        help="text, with --faithfulness: fit the codes of the reconstructions and path ends to their "
        "sentences by this many Adam steps, as reconstruct and interpolate do (default 0: the posterior means)",
    )

    p = sub.add_parser(
        "fit-prior",
        help="fit a Gaussian-mixture prior to a trained model's aggregate posterior",
        description="Encode the training data (or --data), draw codes z ~ q(z|x), fit a mixture of "
        "full-covariance Gaussians to them (EM), and save the model with it as its prior "
        "to a new folder: evaluate and sample then use it instead of N(0, I).",
    )
    p.add_argument("model_dir", help="a trained model's folder (config.json, model.safetensors, tokenizer)")
    p.add_argument("--components", type=int, default=16, help="mixture components (default: 16)")
    p.add_argument("--data", help="examples to encode (default: the training data the model was trained on)")
    p.add_argument("--samples-per-example", type=int, default=4, help="codes drawn from each q(z|x) (default: 4)")
    p.add_argument("--output", help="new model folder (default: MODEL_DIR-gmmK beside the model)")
    p.add_argument("--batch-size", type=int, default=256, help="examples at a time")
    p.add_argument("--seed", type=int, default=0, help="random seed")

    p = sub.add_parser("sample", help="draw from the prior: sentences, or an image grid")
    p.add_argument("model_dir", help="a trained model's folder (config.json, model.safetensors, tokenizer)")
    p.add_argument("-n", type=int, default=10, help="how many to draw")
    p.add_argument("--output", help="image models: PNG path")
    _add_set(p)
    _add_generation(p, default="sample")

    p = sub.add_parser("reconstruct", help="text: decode sentences from their posterior means")
    p.add_argument("model_dir", help="a trained model's folder (config.json, model.safetensors, tokenizer)")
    p.add_argument("sentences", nargs="+", help="one or more sentences")
    _add_fit(p)
    _add_set(p)
    _add_generation(p)

    _add_attribute_verbs(sub)

    p = sub.add_parser("interpolate", help="text: the path between two sentences in latent space")
    p.add_argument("model_dir", help="a trained model's folder (config.json, model.safetensors, tokenizer)")
    p.add_argument("sentence_a", help="the path's start")
    p.add_argument("sentence_b", help="the path's end")
    p.add_argument("--steps", type=int, default=5, help="intermediate codes (N+2 lines in all)")
    p.add_argument("--method", choices=["slerp", "linear"], default="slerp", help="spherical or straight path")
    p.add_argument(
        "--with-inputs",
        action="store_true",
        help="print the two sentences themselves as the first and last lines (the path between them "
        "is the model's); without it an end line that is not its sentence is marked '~ '",
    )
    _add_fit(p)
    _add_generation(p)

    p = sub.add_parser("encode", help="text: posterior means of each line of a file, to .npy")
    p.add_argument("model_dir", help="a trained model's folder (config.json, model.safetensors, tokenizer)")
    p.add_argument("--input", required=True, help="sentences, one a line")
    p.add_argument("--output", required=True)
    p.add_argument("--batch-size", type=int, default=256, help="examples at a time")

    _add_map_verbs(sub)
    return parser


def _commands_for(model_dir: str):
    """The module of verbs for the modality of the model saved in model_dir."""
    import importlib
    from pathlib import Path

    from .core.model import read_model_config
    from .registry import model_class

    cls = model_class(read_model_config(Path(model_dir))["model_type"])
    return importlib.import_module(f"textvae.{cls.task_name}.commands"), cls.task_name


def run(args: argparse.Namespace) -> None:
    if args.verb == "train":
        from .pipelines import train

        train(args.config, *args.overrides, output_dir=args.output_dir, resume=args.resume, overwrite=args.overwrite)
        return
    if args.verb == "curves":
        from .commands import output_path
        from .training.curves import best_validation, plot_curves, read_log

        logs = [read_log(run) for run in args.runs]
        path = plot_curves(args.runs, output_path(args.output, "--output"), [series for series, _ in logs])
        for run, (series, skipped) in zip(args.runs, logs):
            best = best_validation(series)
            said = f"best validation -ELBO {best[1]:.3f} at step {best[0]}" if best else "no validation yet"
            print(f"{run}: {said}" + (f" ({skipped} broken log line(s) skipped)" if skipped else ""))
        print(f"curves written to {path}")
        return
    if args.verb == "demo":
        from .demo import serve

        serve(args)
        return
    commands, modality = _commands_for(args.model_dir)
    if args.verb == "map":  # textvae.text.mapping / textvae.image.mapping
        import importlib

        importlib.import_module(f"textvae.{modality}.mapping").map_verb(args)
        return
    fn = getattr(commands, args.verb.replace("-", "_"), None)
    if fn is None:
        raise UserError(f"`textvae {args.verb}` is not available for {modality} models ({args.model_dir})")
    fn(args)


def main(argv: list[str] | None = None) -> None:
    import os

    # textvae never downloads: models and data are local paths. Keep the Hugging Face libraries from
    # trying the network unless the user has said otherwise.
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ.setdefault(var, "1")
    from .runtime import bound_onednn_cache

    bound_onednn_cache()
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    for i, word in enumerate(argv[:-1]):  # `--values -3:3:7` would read as an option: keep it a value
        if word == "--values":
            argv[i : i + 2] = [f"--values={argv[i + 1]}"]
            break
    args, extra = parser.parse_known_args(argv)
    # `train ... --output-dir X key=value`: overrides after an option are overrides too.
    overrides_only = all("=" in e and not e.startswith("-") for e in extra)
    if extra and getattr(args, "overrides", None) is not None and overrides_only:
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        run(args)
    except UserError as e:
        print(f"textvae: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("textvae: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
