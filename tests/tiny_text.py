"""Tiny text models on real sentences, shared by the text tests (the `tokenizer` fixture is in conftest)."""

import dataclasses

import torch

from textvae.config import families
from textvae.text.families import DecoderConfig, EncoderConfig
from textvae.text.model import TextModelConfig, TextVAE

# The first lines of SNLI's validation split (Bowman et al. 2015), as in /work/shared/data/snli.
SENTENCES = """\
a black man is climbing a mountain without any ropes .
a man is driving his car through a tunnel .
a dog performs on america 's got talent .
the wall street trading floor opens for the day .
the woman is taking the baby outside for the first time .
a woman in a white dress is riding a bicycle .
a large earth moving machine tipped on it 's side .
basketball players participate in a game .
a man sells sunglasses to a young tourist .
a person hiking on a snowy mountain .
there is a person and an animal outdoors .
the men and women are dressed in business suits .
a older man walking past a building carrying a tv on his head
a man is using a shovel on the ground while wearing head cover .
some musicians are wearing ponchos and pants
a carpenter is hammering .
the mother and child are looking at the book .
she walked in the alps .
in snow , mountain climber is posing
some people are walking to their cars .
the three women tourists are photographing an object outdoors .
a man is at his job working as a landscaper
two food service workers preparing food in a commercial kitchen .
two boys are sitting in a car outside of a building .
the man is inside drinking .
four people walk down the strip on a summer day in france .
a lady displaying a book in a library
a vendor travels with his cart down a dirt road .
the toddler is asleep in a stroller .
a man playing in the sea
a young women with brown hair walking down a city street in the rain .
three people waiting at a bus stop .
""".splitlines()

KINDS = ("lstm", "gru", "transformer")
TINY = {"hidden_size": 16, "num_heads": 2, "ff_size": 32}  # the sizes of every family that has them


def _tiny(union, kind: str, changes: dict):
    cls = families(union)[kind]
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(kind=kind, **{**{k: v for k, v in TINY.items() if k in names}, **changes})


def tiny_encoder(kind="lstm", **changes):
    """The config of an encoder of `kind` at the tiny sizes, with `changes` (keys of its family)."""
    return _tiny(EncoderConfig, kind, changes)


def tiny_decoder(kind="lstm", **changes):
    """The config of a decoder of `kind` at the tiny sizes, with `changes` (keys of its family)."""
    return _tiny(DecoderConfig, kind, changes)


def tiny_config(encoder="lstm", decoder="lstm", **overrides) -> TextModelConfig:
    return TextModelConfig(
        embed_size=16, latent_size=8, encoder=tiny_encoder(encoder), decoder=tiny_decoder(decoder), **overrides
    )


def tiny_model(tokenizer, encoder="lstm", decoder="lstm", seed=0, **overrides) -> TextVAE:
    torch.manual_seed(seed)
    return TextVAE(tiny_config(encoder, decoder, **overrides), tokenizer)
