"""Config dataclasses from YAML and overrides: keys and types checked, errors name the nearest key."""

from dataclasses import dataclass, field

import pytest

from textvae.config import apply_overrides, from_dict, parse_override
from textvae.core.schedules import KLScheduleConfig
from textvae.errors import UserError
from textvae.training.batching import EpochBatchSampler
from textvae.training.config import LossConfig, TrainConfig


@dataclass
class Inner:
    rate: float = 0.5
    name: str = "a"


@dataclass
class Outer:
    size: int = 3
    inner: Inner = field(default_factory=Inner)
    tags: list[str] = field(default_factory=list)
    path: str | None = None


def test_nested_from_dict_and_int_to_float():
    cfg = from_dict(Outer, {"size": 5, "inner": {"rate": 1}, "tags": ["x"]})
    assert cfg.size == 5 and cfg.inner.rate == 1.0 and isinstance(cfg.inner.rate, float) and cfg.tags == ["x"]


def test_unknown_key_names_nearest():
    with pytest.raises(UserError, match=r"unknown config key 'inner.rat'; did you mean 'inner.rate'"):
        from_dict(Outer, {"inner": {"rat": 1.0}})


@pytest.mark.parametrize(
    "raw,msg",
    [
        ({"size": "big"}, "size must be an integer"),
        ({"size": 2.5}, "size must be an integer"),
        ({"inner": {"rate": "fast"}}, "inner.rate must be a number"),
        ({"size": True}, "size must be an integer"),
    ],
)
def test_wrong_types_rejected(raw, msg):
    with pytest.raises(UserError, match=msg):
        from_dict(Outer, raw)


def test_training_refuses_a_mixture_prior_not_taken_from_a_fitted_model():
    from textvae.training.config import build_config

    with pytest.raises(UserError, match=r"textvae fit-prior.*train.init_from=FITTED_DIR"):
        build_config({"task": "text", "model": {"prior_components": 4}})
    cfg = build_config({"task": "text", "model": {"prior_components": 4}, "train": {"init_from": "runs/fitted"}})
    assert cfg.model.prior_components == 4


def test_out_of_range_value_is_one_line_user_error():
    with pytest.raises(UserError, match=r"train: lr must be > 0"):
        from_dict(TrainConfig, {"lr": -1.0}, prefix="train.")
    with pytest.raises(UserError, match=r"free_bits must be >= 0"):
        from_dict(LossConfig, {"free_bits": -0.1}, prefix="loss.")


@pytest.mark.parametrize(
    "text,path,value",
    [
        ("train.lr=3e-4", ["train", "lr"], 3e-4),
        ("a.b=12", ["a", "b"], 12),
        ("x=true", ["x"], True),
        ("loss.kl.kind=cyclical", ["loss", "kl", "kind"], "cyclical"),
        ("t.list=[1, 2]", ["t", "list"], [1, 2]),
    ],
)
def test_parse_override(text, path, value):
    assert parse_override(text) == (path, value)


def test_apply_overrides_nested_and_errors():
    raw = {"loss": {"kl": {"kind": "linear"}}}
    apply_overrides(raw, ["loss.kl.kind=cyclical", "loss.free_bits=0.5", "train.max_steps=7"])
    cfg = from_dict(LossConfig, raw["loss"])
    assert cfg.kl == KLScheduleConfig(kind="cyclical") and cfg.free_bits == 0.5
    assert raw["train"] == {"max_steps": 7}
    with pytest.raises(UserError, match="key.sub=value"):
        apply_overrides({}, ["nokey"])
    with pytest.raises(UserError, match="is a value"):
        apply_overrides({"a": 1}, ["a.b=2"])


def test_batches_deterministic_per_epoch_and_cover_everything():
    lengths = [(i * 7) % 23 + 1 for i in range(103)]
    s = EpochBatchSampler(103, 10, shuffle=True, seed=5, lengths=lengths, pool_batches=3)
    s.set_epoch(2)
    first = s.batches()
    s.set_epoch(3)
    other = s.batches()
    s.set_epoch(2)
    assert s.batches() == first and other != first
    assert sorted(i for b in first for i in b) == list(range(103))
    assert len(first) == len(s) == 11


def test_bucketing_reduces_padding():
    import random

    rng = random.Random(0)
    lengths = [rng.randint(3, 60) for _ in range(2000)]

    def padding(sampler):
        return sum(len(b) * max(lengths[i] for i in b) - sum(lengths[i] for i in b) for b in sampler.batches())

    bucketed = padding(EpochBatchSampler(2000, 32, seed=0, lengths=lengths))
    plain = padding(EpochBatchSampler(2000, 32, seed=0))
    assert bucketed < 0.05 * sum(lengths) < plain


def test_unquoted_no_in_yaml_or_override_reads_as_the_string_no():
    # YAML 1.1 reads `no` as false; `train.mixed_precision=no` failed with "must be a string" before.
    raw = apply_overrides({}, ["train.mixed_precision=no"])
    assert from_dict(TrainConfig, raw["train"]).mixed_precision == "no"
    assert from_dict(Inner, {"name": True}).name == "yes"


@dataclass
class Circle:
    KINDS = ("circle",)
    kind: str = "circle"
    radius: float = 1.0


@dataclass
class Box:
    KINDS = ("box", "square")
    kind: str = "box"
    width: float = 1.0


@dataclass
class Scene:
    shape: Circle | Box = field(default_factory=Circle)  # a section chosen by its kind


def test_a_section_chosen_by_its_kind():
    assert from_dict(Scene, {"shape": {"kind": "square", "width": 2}}).shape == Box(kind="square", width=2.0)
    assert from_dict(Scene, {"shape": {"radius": 3}}).shape == Circle(radius=3.0)  # no kind: the first family's
    with pytest.raises(UserError, match=r"^shape: kind must be one of circle, box, square, not 'cube'$"):
        from_dict(Scene, {"shape": {"kind": "cube"}})
    with pytest.raises(
        UserError,
        match=r"^shape.radius: not a key of shape kind box \(only of circle\); did you mean 'shape.kind'\? "
        r"Its keys: kind, width$",
    ):
        from_dict(Scene, {"shape": {"kind": "box", "radius": 3}})
    # a saved config may hold other families' keys; a key of no family stays an error
    assert from_dict(Scene, {"shape": {"kind": "box", "radius": 3}}, saved=True).shape == Box()
    with pytest.raises(UserError, match="shape.widht: not a key of shape kind box; did you mean 'shape.width'"):
        from_dict(Scene, {"shape": {"kind": "box", "widht": 3}}, saved=True)


def test_an_override_of_the_kind_drops_the_files_keys_of_the_old_kind():
    raw = apply_overrides({"shape": {"kind": "circle", "radius": 2}}, ["shape.kind=box"])
    assert from_dict(Scene, raw).shape == Box()
    raw = apply_overrides({"shape": {"kind": "circle"}}, ["shape.radius=2", "shape.kind=box"])
    with pytest.raises(UserError, match="shape.radius: not a key of shape kind box"):  # typed, not from the file
        from_dict(Scene, raw)
    raw = apply_overrides({"shape": {"kind": "circle", "radius": 2}}, ["shape.kind=box", "shape.radius=3"])
    with pytest.raises(UserError, match="shape.radius: not a key of shape kind box"):
        from_dict(Scene, raw)
