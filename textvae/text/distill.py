"""Knowledge distillation (Hinton et al. 2015; loss.distill_from) from language models, or from VAEs into a
VAE (born-again self-distillation, Furlanello et al. 2018, with teachers that see the sentence through z).

Before training, the teachers read every training sentence once: at each predicted position (each token
and the end of sentence) the mean of their next-token probabilities is taken and its top k ids and
probabilities are kept (`teacher_top_k`). A VAE teacher predicts from its own posterior mean of the
sentence, z = E[q_teacher(z|x)]: its next-token distribution is p_teacher(x_t | x_<t, z), sharper than a
language model's, and the student matches it from its own z. Training batches carry them (`DistilledText`,
`add_teacher_targets`), and the decoder adds distill_weight x the cross-entropy
-sum_k p_k log q(id_k) - p_rest log q_rest over a sentence's positions to its loss, the tokens outside the
top k one bin (`distillation_cross_entropy`; TextVAE.log_likelihood). The log-probabilities come from the
same fused output-layer pass as the reconstruction's, so the term costs almost nothing per step. The
targets are kept in the run's folder (distill/), so a resumed run does not recompute them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from .data import TokenizedText

TARGETS_NAME = "targets.pt"
META_NAME = "targets.json"


@dataclass
class TeacherTargets:
    """The teachers' top-k next-token ids (P, k) int32 and probabilities (P, k) float16 at every predicted
    position of every sentence, sentence after sentence; sentence i's rows are offsets[i]:offsets[i + 1]
    (its tokens + 1, the end of sentence included)."""

    ids: torch.Tensor
    probs: torch.Tensor
    offsets: torch.Tensor

    def save(self, folder: Path, meta: dict) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        torch.save({"ids": self.ids, "probs": self.probs, "offsets": self.offsets}, folder / TARGETS_NAME)
        (folder / META_NAME).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")  # last: complete

    @classmethod
    def load(cls, folder: Path, meta: dict) -> "TeacherTargets | None":
        """The targets saved in `folder` for the same teachers, k and data (`meta`), else None."""
        try:
            if json.loads((folder / META_NAME).read_text(encoding="utf-8")) != meta:
                return None
            return cls(**torch.load(folder / TARGETS_NAME, weights_only=True))
        except (OSError, ValueError, RuntimeError):
            return None


@torch.no_grad()
def teacher_top_k(teachers: list, dataset: TokenizedText, collate, top_k: int, batch_size: int = 128,
                  progress: bool = True) -> TeacherTargets:
    """The top_k of the teachers' mean next-token distribution at every predicted position of `dataset`'s
    sentences (in dataset order), the teachers reading the sentences without any dropout, each at its own
    posterior mean of the sentence (a language model's is the prior's, zero; its decoder ignores z). Float32."""
    for teacher in teachers:
        teacher.eval()
    device = teachers[0].device
    ids_parts, prob_parts = [], []
    n = len(dataset)
    for start in tqdm(range(0, n, batch_size), desc="teacher targets", unit="batch", disable=not progress,
                      dynamic_ncols=True):
        batch = collate([dataset[i] for i in range(start, min(n, start + batch_size))])
        batch = {key: value.to(device) for key, value in batch.items()}
        ids, lengths = batch["input_ids"], batch["lengths"]
        inputs = ids[:, :-1]
        real = torch.arange(inputs.shape[1], device=device)[None, :] < (lengths[:, None] - 1)   # row-major
        mean = None
        for teacher in teachers:
            z = teacher.encode(batch).mean                                                       # (B, D)
            h = teacher.decoder.features(inputs, z)[real]                                        # (N, H)
            p = torch.softmax(teacher.decoder.project(h).float(), -1)
            mean = p if mean is None else mean.add_(p)
        top = (mean / len(teachers)).topk(min(top_k, mean.shape[1]), dim=-1)
        ids_parts.append(top.indices.to(torch.int32).cpu())
        prob_parts.append(top.values.to(torch.float16).cpu())
    per_sentence = torch.tensor(dataset.lengths, dtype=torch.long) - 1
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), per_sentence.cumsum(0)])
    return TeacherTargets(torch.cat(ids_parts), torch.cat(prob_parts), offsets)


def distillation_cross_entropy(probs: torch.Tensor, log_q: torch.Tensor, rest_bin: bool = True) -> torch.Tensor:
    """-sum p_k log q_k over the teachers' top k at N positions (probs, log_q: (N, k)), summed over the
    positions; with rest_bin also -p_rest log q_rest for everything outside the top k as one bin,
    p_rest = 1 - sum p_k and q_rest = 1 - sum q_k. Float32."""
    probs, log_q = probs.float(), log_q.float()
    ce = -(probs * log_q).sum()
    if rest_bin:
        p_rest = (1 - probs.sum(1)).clamp(min=0)
        q_rest = (1 - torch.logsumexp(log_q, 1).exp()).clamp(min=1e-6)
        ce = ce - (p_rest * q_rest.log()).sum()
    return ce


@dataclass
class Indexed:
    """A dataset item with its index (to find its teacher targets)."""

    item: object
    index: int


class DistilledText(Dataset):
    """The training sentences, each item with its index; `lengths` as the sentences'."""

    def __init__(self, base: TokenizedText):
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> Indexed:
        return Indexed(self.base[i], i)

    @property
    def lengths(self) -> list[int]:
        return self.base.lengths


def add_teacher_targets(batch: dict[str, torch.Tensor], indices: list[int], targets: TeacherTargets) -> dict:
    """Add "teacher_ids" (B, T-1, k) long and "teacher_probs" (B, T-1, k) float32 to a collated batch,
    zeros past each sentence's end."""
    B, T = batch["input_ids"].shape
    k = targets.ids.shape[1]
    ids = torch.zeros(B, T - 1, k, dtype=torch.long)
    probs = torch.zeros(B, T - 1, k, dtype=torch.float32)
    for row, i in enumerate(indices):
        a, b = int(targets.offsets[i]), int(targets.offsets[i + 1])
        ids[row, : b - a] = targets.ids[a:b]
        probs[row, : b - a] = targets.probs[a:b]
    batch["teacher_ids"], batch["teacher_probs"] = ids, probs
    return batch
