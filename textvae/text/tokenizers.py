"""Tokenizers: strings to ids and back, trained on the training sentences, saved as their own file.

Both kinds share one interface and the same special ids, so a model never depends on the kind:

    tok = SentencePieceTokenizer.train(sentences, vocab_size=8000)    # or WordTokenizer.train(...)
    ids = tok.encode("a man is sleeping .")     # no bos/eos
    tok.decode(ids)                             # 'a man is sleeping .' (pad/bos/eos dropped)
    tok.save(folder); load_tokenizer(folder)    # tokenizer.model or vocab.json

Specials: <pad> 0, <bos> 1, <eos> 2, <unk> 3. A literal `<unk>` word in the text (as in the
Penn Treebank and the SNLI files used in text-VAE papers) is the unknown word: it encodes to unk_id
and unk_id decodes to `<unk>`, with either kind.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from ..errors import UserError

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
_UNK_WORD = re.compile(r"(?<!\S)<unk>(?!\S)")  # <unk> as a whole whitespace-separated word


class Tokenizer:
    """The interface both kinds keep. Special ids are the same for every kind."""

    kind: ClassVar[str] = ""
    filename: ClassVar[str] = ""
    pad_id: ClassVar[int] = PAD_ID
    bos_id: ClassVar[int] = BOS_ID
    eos_id: ClassVar[int] = EOS_ID
    unk_id: ClassVar[int] = UNK_ID

    @property
    def vocab_size(self) -> int:
        raise NotImplementedError

    def encode(self, text: str) -> list[int]:
        """Ids of `text`, without bos/eos."""
        raise NotImplementedError

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [self.encode(t) for t in texts]

    def decode(self, ids: Iterable[int]) -> str:
        """The text of `ids`; pad, bos and eos are dropped, unk is written `<unk>`."""
        raise NotImplementedError

    def save(self, directory: str | Path) -> None:
        """Write this tokenizer's file into `directory` (a folder holds one tokenizer)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / (self.filename + ".tmp")
        tmp.write_bytes(self._serialize())
        tmp.replace(directory / self.filename)
        for other in _KINDS.values():  # a stale file of the other kind would make loading ambiguous
            if other.filename != self.filename:
                (directory / other.filename).unlink(missing_ok=True)

    def _serialize(self) -> bytes:
        raise NotImplementedError

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size})"


class WordTokenizer(Tokenizer):
    """Whitespace-separated words; words outside the vocabulary become unk.

    Args:
        tokens: the vocabulary in id order; the first four must be <pad> <bos> <eos> <unk>.
        lowercase: lower-case text before looking words up.
    """

    kind = "word"
    filename = "vocab.json"

    def __init__(self, tokens: list[str], lowercase: bool = False):
        if list(tokens[:4]) != list(SPECIALS):
            raise ValueError(f"a word vocabulary must start with {' '.join(SPECIALS)}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("a word vocabulary must not repeat a word")
        self.tokens = list(tokens)
        self.lowercase = lowercase
        self._index = {t: i for i, t in enumerate(self.tokens)}
        for special in (PAD, BOS, EOS):  # typed in the text, these are words, not control symbols
            self._index[special] = UNK_ID

    @classmethod
    def train(
        cls, sentences: Iterable[str], max_size: int = 0, min_count: int = 1, lowercase: bool = False
    ) -> WordTokenizer:
        """Count the words of `sentences`.

        Args:
            max_size: keep the most frequent words only (0: all), the four specials not counted.
            min_count: drop words seen fewer times.
            lowercase: lower-case the text (also when encoding later).
        Ties in frequency are broken alphabetically, so the vocabulary depends only on the counts.
        """
        if max_size < 0 or min_count < 1:
            raise ValueError(f"max_size must be >= 0 and min_count >= 1, not {max_size} and {min_count}")
        counts = Counter()
        for text in sentences:
            counts.update((text.lower() if lowercase else text).split())
        for special in SPECIALS:
            counts.pop(special, None)
        words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        if max_size:
            words = words[:max_size]
        return cls([*SPECIALS, *words], lowercase=lowercase)

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> list[int]:
        if self.lowercase:
            text = text.lower()
        return [self._index.get(w, UNK_ID) for w in text.split()]

    def decode(self, ids: Iterable[int]) -> str:
        return " ".join(self.tokens[i] for i in map(int, ids) if i not in (PAD_ID, BOS_ID, EOS_ID))

    def _serialize(self) -> bytes:
        data = {"kind": self.kind, "lowercase": self.lowercase, "tokens": self.tokens}
        return (json.dumps(data, ensure_ascii=False, indent=0) + "\n").encode("utf-8")

    @classmethod
    def load(cls, path: Path) -> WordTokenizer:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(data["tokens"], lowercase=bool(data.get("lowercase", False)))
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as e:
            raise UserError(f"{path} is not a textvae word vocabulary ({e}); re-save the model") from None


class SentencePieceTokenizer(Tokenizer):
    """Subwords from SentencePiece (Kudo & Richardson 2018), unigram or BPE, trained in memory.

    Args:
        model_proto: the serialized SentencePiece model (the bytes of tokenizer.model).
    """

    kind = "sentencepiece"
    filename = "tokenizer.model"

    def __init__(self, model_proto: bytes):
        import sentencepiece as spm

        self.model_proto = bytes(model_proto)
        self.sp = spm.SentencePieceProcessor(model_proto=self.model_proto)
        ids = (self.sp.pad_id(), self.sp.bos_id(), self.sp.eos_id(), self.sp.unk_id())
        if ids != (PAD_ID, BOS_ID, EOS_ID, UNK_ID):
            raise ValueError(
                f"this SentencePiece model has pad/bos/eos/unk ids {ids}, not 0/1/2/3; "
                f"train it with SentencePieceTokenizer.train"
            )

    @classmethod
    def train(
        cls,
        sentences: Iterable[str],
        vocab_size: int = 8000,
        model_type: str = "unigram",
        lowercase: bool = False,
        character_coverage: float = 1.0,
        input_sentence_size: int = 1_000_000,
        seed: int = 0,
    ) -> SentencePieceTokenizer:
        """Train on `sentences` without writing a file.

        Args:
            vocab_size: the target size; small corpora give fewer pieces rather than an error.
            model_type: unigram | bpe.
            lowercase: fold case (SentencePiece's nmt_nfkc_cf rule, stored in the model).
            character_coverage: share of characters the vocabulary must cover (1.0 for small alphabets).
            input_sentence_size: train on at most this many sentences, sampled (bounds time and memory).
            seed: makes that sample and the training reproducible.
        Raises:
            UserError: no sentences, or vocab_size smaller than the corpus's alphabet.
        """
        import sentencepiece as spm

        if model_type not in ("unigram", "bpe"):
            raise ValueError(f"model_type must be unigram or bpe, not {model_type!r}")
        # A literal <unk> is the unknown word (see encode); keep it out of the learned pieces.
        texts = (_UNK_WORD.sub(" ", t) for t in sentences)
        writer = io.BytesIO()
        spm.set_random_generator_seed(seed)
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=texts,
                model_writer=writer,
                vocab_size=vocab_size,
                model_type=model_type,
                pad_id=PAD_ID,
                bos_id=BOS_ID,
                eos_id=EOS_ID,
                unk_id=UNK_ID,
                pad_piece=PAD,
                bos_piece=BOS,
                eos_piece=EOS,
                unk_piece=UNK,
                normalization_rule_name="nmt_nfkc_cf" if lowercase else "nmt_nfkc",
                character_coverage=character_coverage,
                hard_vocab_limit=False,
                input_sentence_size=input_sentence_size,
                shuffle_input_sentence=True,
                max_sentence_length=1 << 16,
                num_threads=min(4, os.cpu_count() or 1),
                minloglevel=2,
            )
        except RuntimeError as e:
            msg = str(e)
            if "sentences_.empty()" in msg:
                raise UserError("no sentences to train the SentencePiece tokenizer on") from None
            if "required_chars" in msg:
                need = re.search(r"(\d+) vs (\d+)", msg)
                raise UserError(
                    f"tokenizer vocab_size {vocab_size} is smaller than the "
                    f"{need.group(2) if need else 'many'} characters and specials the corpus needs; "
                    f"raise data.tokenizer.vocab_size"
                ) from None
            raise UserError(f"SentencePiece could not train a tokenizer: {msg.splitlines()[0]}") from None
        return cls(writer.getvalue())

    @property
    def vocab_size(self) -> int:
        return self.sp.get_piece_size()

    def encode(self, text: str) -> list[int]:
        return self.encode_batch([text])[0]

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        out = self.sp.encode(list(texts))  # one C++ call for the common case
        for i, text in enumerate(texts):
            if "<unk>" in text:
                out[i] = self._encode_with_unk(text)
        return out

    def _encode_with_unk(self, text: str) -> list[int]:
        ids: list[int] = []
        for j, part in enumerate(_UNK_WORD.split(text)):
            if j:
                ids.append(UNK_ID)
            ids.extend(self.sp.encode(part))
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        # Runs between unks are decoded by SentencePiece; each unk is a word of its own.
        words, run = [], []
        for i in map(int, ids):
            if i == UNK_ID:
                words.append(self.sp.decode(run))
                words.append(UNK)
                run = []
            elif i not in (PAD_ID, BOS_ID, EOS_ID):
                run.append(i)
        words.append(self.sp.decode(run))
        return " ".join(w for w in words if w)

    def _serialize(self) -> bytes:
        return self.model_proto

    @classmethod
    def load(cls, path: Path) -> SentencePieceTokenizer:
        try:
            return cls(path.read_bytes())
        except (RuntimeError, OSError, ValueError) as e:
            raise UserError(f"{path} is not a usable SentencePiece model ({str(e).splitlines()[0]})") from None


_KINDS: dict[str, type[Tokenizer]] = {"sentencepiece": SentencePieceTokenizer, "word": WordTokenizer}


def tokenizer_kinds() -> tuple[str, ...]:
    return tuple(_KINDS)


def load_tokenizer(directory: str | Path) -> Tokenizer:
    """The tokenizer saved in `directory`, whichever kind it is."""
    directory = Path(directory)
    found = [cls for cls in _KINDS.values() if (directory / cls.filename).is_file()]
    if not found:
        names = " or ".join(cls.filename for cls in _KINDS.values())
        raise UserError(f"{directory} holds no tokenizer ({names}); is it a text model folder?")
    if len(found) > 1:
        raise UserError(
            f"{directory} holds two tokenizers ({', '.join(c.filename for c in found)}); "
            f"delete the one that does not belong to the model"
        )
    return found[0].load(directory / found[0].filename)
