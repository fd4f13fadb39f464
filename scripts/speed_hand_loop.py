"""The baseline of scripts/bench_speed.py: a minimal hand-written PyTorch training loop on textvae's batches,
in a process of its own.

    python scripts/speed_hand_loop.py MODEL PRECISION STEPS OUT.json TRAIN_FILE VALID_FILE

MODEL is a key of bench_speed.MODELS; OUT.json gets the tokens/s of each window of LOG_EVERY steps (the
first, start-up, left out) and the batches' padding waste.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from bench_speed import MODELS  # scripts/ is on sys.path when a script here runs
from benchlib import ROOT
from speed_report import LOG_EVERY


def hand_loop(key: str, precision: str, steps: int, out: str, train_file: str, valid_file: str) -> None:
    """The minimal hand-written loop on textvae's batches (run in its own process)."""
    import torch
    import torch.nn.functional as F
    from accelerate import Accelerator
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence

    from textvae.registry import task_class
    from textvae.training.config import load_config

    torch.set_num_threads(2)
    _, config, extra = MODELS[key]
    cfg = load_config(
        ROOT / config,
        [
            *extra,
            f"data.train_file={train_file}",
            f"data.valid_file={valid_file}",
            f"train.output_dir={Path(out).parent / 'hand'}",
        ],
    )
    task = task_class("text")(cfg)
    task.setup(Accelerator(cpu=True))
    tok, m = task.tokenizer, cfg.model
    V, E, D = tok.vocab_size, m.embed_size, m.latent_size
    sampler = task.batch_sampler(task.train_data, cfg.train.batch_size, shuffle=True, seed=cfg.train.seed)
    batches = [task.collate([task.train_data[i] for i in idx], train=True) for idx in sampler.batches()[:steps]]
    real = sum(int((b["lengths"] - 1).sum()) for b in batches)
    padded = sum(b["input_ids"].shape[0] * (b["input_ids"].shape[1] - 1) for b in batches)
    rnns = {"lstm": nn.LSTM, "gru": nn.GRU}

    class Hand(nn.Module):
        def __init__(self):
            super().__init__()
            enc, dec = m.encoder, m.decoder
            self.emb = nn.Embedding(V, E, padding_idx=tok.pad_id)
            self.enc = rnns[enc.kind](E, enc.hidden_size, batch_first=True, bidirectional=enc.bidirectional)
            self.post = nn.Linear(enc.hidden_size * (2 if enc.bidirectional else 1), 2 * D)
            self.states = 2 if dec.kind == "lstm" else 1
            self.z2h = nn.Linear(D, self.states * dec.hidden_size)
            self.dec = rnns[dec.kind](E + (D if dec.z_to_every_input else 0), dec.hidden_size, batch_first=True)
            self.out = nn.Linear(dec.hidden_size, V)
            if m.tie_embeddings:
                self.out.weight = self.emb.weight

        def forward(self, ids, lengths, beta):
            B = ids.shape[0]
            x = F.dropout(self.emb(ids), m.embed_dropout, self.training)
            _, h = self.enc(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
            h = h[0] if isinstance(h, tuple) else h
            mu, logvar = self.post(torch.cat(list(h), -1)).float().chunk(2, -1)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            inputs = ids[:, :-1]
            if m.word_dropout:
                drop = (torch.rand(inputs.shape) < m.word_dropout) & (inputs != tok.bos_id) & (inputs != tok.pad_id)
                inputs = inputs.masked_fill(drop, tok.unk_id)
            y = F.dropout(self.emb(inputs), m.embed_dropout, self.training)
            if m.decoder.z_to_every_input:
                y = torch.cat([y, z[:, None].expand(-1, y.shape[1], -1).to(y.dtype)], -1)
            h0 = self.z2h(z).view(B, self.states, 1, -1).permute(1, 2, 0, 3).contiguous()
            h0 = (h0[0], h0[1]) if self.states == 2 else h0[0]
            o, _ = self.dec(y, h0)
            logits = self.out(F.dropout(o, m.output_dropout, self.training))
            rec = (
                F.cross_entropy(
                    logits.float().reshape(-1, V), ids[:, 1:].reshape(-1), ignore_index=tok.pad_id, reduction="sum"
                )
                / B
            )
            kl_dims = (-0.5 * (1 + logvar - mu**2 - logvar.exp())).mean(0)
            return rec + beta * kl_dims.clamp(min=cfg.loss.free_bits).sum()

    torch.manual_seed(0)
    model = Hand().train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    speeds, t0, tokens = [], time.perf_counter(), 0
    for step, b in enumerate(batches, 1):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = model(b["input_ids"], b["lengths"], 0.5)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.train.clip_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
        tokens += int((b["lengths"] - 1).sum())
        if step % LOG_EVERY == 0:
            speeds.append(tokens / (time.perf_counter() - t0))
            t0, tokens = time.perf_counter(), 0
    Path(out).write_text(json.dumps({"windows": speeds[1:], "padding_waste": padded / real - 1}) + "\n")


if __name__ == "__main__":
    hand_loop(sys.argv[1], sys.argv[2], int(sys.argv[3]), *sys.argv[4:7])
