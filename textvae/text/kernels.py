"""The hot spots of a recurrent sentence VAE: two written with their backward passes by hand, one
routed to the faster of torch's own kernels.

    log_p = linear_log_prob(h, weight, bias, targets)     # output layer + log-softmax at the targets
    out, h_last = gru_layer(x_proj, h0, w_hh, b_hh, mask) # one GRU layer over a whole sequence
    h_n = lstm_final_states(lstm, x, lengths)             # an LSTM encoder's summary of padded rows

Why by hand (profiled on PTB shapes, 2 CPU threads, bf16 autocast; see benchmarks/speed.md):
- `F.cross_entropy(F.linear(h, W, b))` writes a float32 (N, V) log-softmax, a float32 (N, V) gradient
  and a zero-filled one-hot, and casts W every call: 30% of a training step. `linear_log_prob` takes
  the log-softmax in float32 row block by row block (in place, kept for backward, whose softmax is then
  one exp), and in backward writes the gradient (softmax minus one-hot) in the autocast dtype; the
  three matrix products stay in the autocast dtype.
- torch's CPU GRU records every gate operation of every time step for autograd and casts its weights
  at every step under autocast: 40% of a step. `gru_layer` takes the input projections of all steps as
  one product (done by the caller), runs the recurrence without autograd, and computes the weight
  gradients after the backward loop as single (T*B)-row products; per step only the (B, H) x (H, 3H)
  product and the gate arithmetic remain.
- An LSTM encoder's packed sequence runs step by step in torch's generic CPU code, a padded batch
  through oneDNN's fused LSTM, 1.7x faster: `lstm_final_states` runs the padded batch and reads each
  row's final state at its last real token.
All match torch's own modules to float rounding (tests/test_kernels.py).
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from ..runtime import lstm_runs_in


def compute_dtype(t: torch.Tensor) -> torch.dtype:
    """The dtype matrix products run in: the autocast dtype when autocast is on, else t's."""
    device = t.device.type
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else t.dtype


def _state_dtype(t: torch.Tensor) -> torch.dtype:
    return torch.promote_types(t.dtype, torch.float32)


# -- the output layer ---------------------------------------------------------------------------------


class _LinearLogProb(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, weight, bias, targets, dtype, block, keep):
        full = torch.promote_types(dtype, torch.float32)
        # The forward's products run against wc.t() (K = H): a contiguous (H, V) copy runs them ~15% faster
        # on an AMD EPYC, but costs more than that on a Xeon with AMX (768 rows of PTB: 2.75 ms against 4.12
        # with the copy). The backward's d h runs against (V, H) as it is, never transposed: see AMX_NOTE
        hc, wc, b = h.to(dtype), weight.to(dtype), bias.to(full)
        N, V = h.shape[0], weight.shape[0]
        # The products run on PRODUCT_ROWS rows at a time (faster than `block`-row ones), the float32
        # work on `block` rows (it stays in the cache)
        step = max(block, PRODUCT_ROWS)
        part_rows = torch.empty(min(N, step), V, dtype=dtype, device=h.device)  # one product's rows
        # The float32 log-softmax, a tensor a block: every block's kept for backward (whose softmax is
        # then one exp), or one reused. Blocks, not one (N, V) tensor: glibc serves allocations of 32 MB
        # or more (a 1,400-row PTB batch's whole log-softmax is 56 MB) with fresh pages every time
        reused = None if keep else torch.empty(min(N, block), V, dtype=full, device=h.device)
        kept = []
        out = torch.empty(targets.shape, dtype=full, device=h.device)  # (N, K)
        for i in range(0, N, step):
            stop = min(N, i + step)
            part = part_rows[: stop - i]
            torch.mm(hc[i:stop], wc.t(), out=part)  # (rows, V), no bias
            for j in range(i, stop, block):
                rows = slice(j, min(stop, j + block))
                dest = torch.empty(rows.stop - j, V, dtype=full, device=h.device) if keep else reused
                x = _plus_bias(part[j - i : rows.stop - i], b, dest)
                # in place: one fused pass over a float32 block (log_softmax(dtype=float32) of a bf16 one
                # is 5x slower, logsumexp slower still)
                torch.ops.aten._log_softmax.out(x, 1, False, out=x)
                out[rows] = x.gather(1, targets[rows])
                if keep:
                    kept.append(x)
        if keep:
            ctx.save_for_backward(hc, wc, targets, *kept)
            ctx.dtypes, ctx.block = (h.dtype, weight.dtype, bias.dtype), block
        return out

    @staticmethod
    def backward(ctx, grad):
        hc, wc, targets, *logp = ctx.saved_tensors
        h_dtype, w_dtype, b_dtype = ctx.dtypes
        full = logp[0].dtype
        grad = grad.to(full)
        N, V = hc.shape[0], wc.shape[0]
        want_h, want_w, want_b = ctx.needs_input_grad[:3]
        dlogits = torch.empty(N, V, dtype=hc.dtype, device=hc.device)
        # the float32 gradient goes straight into dlogits when the products run in float32 too
        work = dlogits if dlogits.dtype == full else torch.empty(min(N, ctx.block), V, dtype=full, device=hc.device)
        db = torch.zeros(V, dtype=full, device=hc.device) if want_b else None
        dh = torch.empty(hc.shape, dtype=hc.dtype, device=hc.device) if want_h else None
        step = max(ctx.block, PRODUCT_ROWS)
        blocks = iter(logp)
        for i in range(0, N, step):
            stop = min(N, i + step)
            for j in range(i, stop, ctx.block):
                rows = slice(j, min(stop, j + ctx.block))
                # d(log softmax_t)/d logit_j = [j = t] - softmax_j, in float32 before the cast; summed
                # over a row's K targets with their incoming gradients g_k: scatter(g) - softmax * sum(g)
                p = torch.exp(next(blocks), out=work[rows] if work is dlogits else work[: rows.stop - j])
                p.mul_(-grad[rows].sum(1, keepdim=True)).scatter_add_(1, targets[rows], grad[rows])
                if work is not dlogits:
                    dlogits[rows] = p
                if want_b:
                    db += p.sum(0)
            if want_h:  # while these rows of dlogits are still in the cache
                torch.mm(dlogits[i:stop], wc, out=dh[i:stop])
        dw = (dlogits.t() @ hc).to(w_dtype) if want_w else None
        dh = dh.to(h_dtype) if want_h else None
        db = db.to(b_dtype) if want_b else None
        return dh, dw, db, None, None, None, None


def _plus_bias(x: torch.Tensor, b: torch.Tensor, work: torch.Tensor) -> torch.Tensor:
    """x + b in b's dtype, written into (the first rows of) work. torch.add of a bf16 x and a float32 b
    takes the mixed-dtype path, 3.5x slower than the cast copy and the float32 add done apart."""
    out = work[: x.shape[0]]
    return torch.add(x, b, out=out) if x.dtype == b.dtype else out.copy_(x).add_(b)


# AMX_NOTE: on Intel CPUs with AMX (Sapphire Rapids on), oneDNN 3.12 (torch 2.13) kills the process with
# SIGFPE in bf16 products whose weights it reads transposed (its `ba` layout, what `a @ b.t()` passes) at
# some shapes: (32, 49152) x (49152, N) for N = 256 ... 1024, the d h product of SmolLM2's output layer
# (vocabulary 49152). The same products with the weights row-major (`ab`) run at every shape probed
# (scripts/bench_amx_products.py, benchmarks/amx-products.md), so no product here reads a weight
# transposed along a vocabulary-sized reduction.

# Rows per output-layer product (forward, and the backward's d h): (N, 256) x (256, 10k) bf16 products
# ran at 300 GFLOP/s on 256 rows, 330-360 on 512 (2 threads, PTB shapes)
PRODUCT_ROWS = 512
# Rows of the float32 work (log-softmax, its gradient) at a time: a (64, 10k) float32 block is 2.6 MB, about
# one core's L2. PTB shapes, 2 threads, 768 rows forward and backward (Xeon, AMX): 28.3 ms at 64 rows, 31.0
# at 256
BLOCK_ROWS = 64
ROWS_MULTIPLE = 32  # linear_log_prob's row count is padded to a multiple of this


def linear_log_prob(
    h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, targets: torch.Tensor, block: int | None = None
) -> torch.Tensor:
    """log softmax(h W^T + b)[target] for each row: h (N, H), weight (V, H), bias (V,), targets (N,)
    -> (N,) float32 (float64 for float64 inputs), differentiable in h, weight and bias; with targets
    (N, K), K ids a row, the log-probabilities of each: (N, K).

    Products run in the autocast dtype if autocast is on; the log-softmax and the gradient's softmax
    in float32. Memory: the (N, V) float32 log-softmax, kept for backward only when a gradient is
    needed (else one block of rows at a time), and one product's rows in the product dtype.
    """
    # needs_input_grad is true under no_grad too (parameters require grad): decide here whether
    # backward can happen, else evaluation would keep (N, V) logits for nothing
    keep = torch.is_grad_enabled() and (h.requires_grad or weight.requires_grad or bias.requires_grad)
    # The row count changes with every batch (the real tokens in it), and oneDNN builds (and keeps) new
    # primitives for every new shape of the products: rounded up to a multiple of ROWS_MULTIPLE, the
    # shapes recur. The zero rows cost ~1% more products; their gradient is zero.
    n = h.shape[0]
    pad = -n % ROWS_MULTIPLE
    one = targets.dim() == 1
    targets = targets[:, None] if one else targets
    if pad:
        h, targets = F.pad(h, (0, 0, 0, pad)), F.pad(targets, (0, 0, 0, pad))
    out = _LinearLogProb.apply(h, weight, bias, targets, compute_dtype(h), block or BLOCK_ROWS, keep)
    out = out[:n] if pad else out
    return out[:, 0] if one else out


# -- the GRU --------------------------------------------------------------------------------------------


class _GRULayer(torch.autograd.Function):
    """x_proj (T, B, 3H) = x W_ih^T + b_ih for every step; h0 (B, H); w_hh (3H, H); b_hh (3H,);
    mask (T, B, 1) or None (1 where a step is real: h holds still elsewhere). Gate order r, z, n as
    in torch.nn.GRU. Returns the states (T, B, H) and the last state (B, H).

    Per step only what depends on the previous state runs (forward 8 operations, backward 10); the
    derivatives of the gates' nonlinearities are taken for all steps at once between the two loops,
    and the weight gradients after the backward loop."""

    @staticmethod
    def forward(ctx, x_proj, h0, w_hh, b_hh, mask, dtype):
        T, B, H3 = x_proj.shape
        H = H3 // 3
        sd = _state_dtype(x_proj)
        wt, bc = w_hh.to(dtype).t(), b_hh.to(dtype)
        xp = x_proj.to(sd)
        x_rz, x_n = xp[..., : 2 * H], xp[..., 2 * H :]
        hs = torch.empty(T + 1, B, H, dtype=sd, device=x_proj.device)  # h_0 .. h_T
        gh = torch.empty(T, B, H3, dtype=dtype, device=x_proj.device)  # W_hh h + b_hh
        rz = torch.empty(T, B, 2 * H, dtype=sd, device=x_proj.device)
        n = torch.empty(T, B, H, dtype=sd, device=x_proj.device)
        gh_rz, gh_n, r, z = gh[..., : 2 * H], gh[..., 2 * H :], rz[..., :H], rz[..., H:]
        hs[0] = h0
        for t in range(T):
            h = hs[t]
            torch.addmm(bc, h if dtype == sd else h.to(dtype), wt, out=gh[t])
            torch.sigmoid(torch.add(x_rz[t], gh_rz[t]), out=rz[t])
            torch.tanh(torch.addcmul(x_n[t], r[t], gh_n[t]), out=n[t])
            if mask is None:
                torch.addcmul(n[t], z[t], h - n[t], out=hs[t + 1])  # (1 - z) n + z h
            else:
                torch.lerp(h, torch.addcmul(n[t], z[t], h - n[t]), mask[t], out=hs[t + 1])
        ctx.save_for_backward(hs, gh, rz, n, w_hh.to(dtype), mask)
        ctx.dtypes = (x_proj.dtype, h0.dtype, w_hh.dtype, b_hh.dtype)
        return hs[1:].to(x_proj.dtype), hs[T].to(h0.dtype)

    @staticmethod
    def backward(ctx, d_out, d_last):
        hs, gh, rz, n, wc, mask = ctx.saved_tensors
        x_dtype, h_dtype, w_dtype, b_dtype = ctx.dtypes
        T, B, H = n.shape
        sd = hs.dtype
        # every step's local derivatives at once
        d_tanh = 1 - n * n  # (T, B, H)
        d_sigmoid = rz * (1 - rz)  # (T, B, 2H)
        r, z = rz[..., :H], rz[..., H:]
        one_minus_z = 1 - z
        h_minus_n = hs[:T] - n
        gh_n = gh[..., 2 * H :]
        d_gh = torch.empty(T, B, 3 * H, dtype=wc.dtype, device=hs.device)  # d(W_hh h + b_hh)
        d_xn = torch.empty(T, B, H, dtype=sd, device=hs.device)  # d(x W_in + b_in)
        dh = torch.zeros(B, H, dtype=sd, device=hs.device) if d_last is None else d_last.to(sd)
        for t in range(T - 1, -1, -1):
            if d_out is not None:
                dh = dh + d_out[t]
            if mask is None:
                d_new, carry = dh, None
            else:
                d_new = dh * mask[t]
                carry = dh - d_new
            torch.mul(d_new * one_minus_z[t], d_tanh[t], out=d_xn[t])  # through n's tanh
            torch.mul(d_xn[t], gh_n[t], out=d_gh[t, :, :H])  # dr
            torch.mul(d_new, h_minus_n[t], out=d_gh[t, :, H : 2 * H])  # dz
            d_gh[t, :, : 2 * H] *= d_sigmoid[t]  # through the sigmoids
            torch.mul(d_xn[t], r[t], out=d_gh[t, :, 2 * H :])
            dh = d_new * z[t] if carry is None else torch.addcmul(carry, d_new, z[t])
            dh.add_(d_gh[t] @ wc)
        d_xp = torch.empty(T, B, 3 * H, dtype=x_dtype, device=hs.device)  # written once, no cat
        d_xp[..., : 2 * H] = d_gh[..., : 2 * H]
        d_xp[..., 2 * H :] = d_xn
        flat = d_gh.view(T * B, 3 * H)
        d_w = (flat.t() @ hs[:T].reshape(T * B, H).to(wc.dtype)).to(w_dtype)
        d_b = flat.sum(0, dtype=sd).to(b_dtype)
        return d_xp, dh.to(h_dtype), d_w, d_b, None, None


def gru_layer(
    x_proj: torch.Tensor, h0: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """One GRU layer over a sequence, time-major: x_proj (T, B, 3H) holds x_t W_ih^T + b_ih for every
    step, h0 (B, H). mask (T, B) of 0/1: where 0 the state holds still (right padding), so the last
    state is each row's state after its last real step. Returns states (T, B, H) and last (B, H).

    The hidden state and gates are float32; the per-step product runs in the autocast dtype."""
    if mask is not None:
        mask = mask.to(_state_dtype(x_proj))[..., None]
    return _GRULayer.apply(x_proj, h0, w_hh, b_hh, mask, compute_dtype(x_proj))


KERNEL_DEVICE = "cpu"  # where GRU and lstm_final_states run their own code; elsewhere torch's (cuDNN)


def _layers(rnn: nn.RNNBase, x: torch.Tensor, lengths: torch.Tensor | None, run) -> tuple[torch.Tensor, torch.Tensor]:
    """Every layer and direction of `rnn` over time-major x (T, B, E), right-padded to `lengths` (B,)
    (or None: no padding). A reverse direction reads each row backwards from its last real token, the
    padding left in place; `run(seq, suffix, index)` runs one direction of one layer (parameters
    named `weight_ih{suffix}` ..., index = layer * directions + direction) on seq (T, B, E') and returns
    its outputs (T, B, H) and final state (B, H). Returns the top layer's outputs (T, B, H * directions)
    and the final states (layers * directions, B, H), as torch's RNNs order them."""
    T, B = x.shape[:2]
    D = 2 if rnn.bidirectional else 1
    if D == 2:
        steps = torch.arange(T, device=x.device)[:, None]  # (T, 1)
        if lengths is None:
            order = (T - 1 - steps).expand(T, B)
        else:
            lengths = lengths.to(x.device)[None, :]
            order = torch.where(steps < lengths, lengths - 1 - steps, steps)

        def reverse(seq):  # an involution: reversed outputs go back to their tokens' positions
            return seq.gather(0, order[..., None].expand_as(seq))

    finals = []
    for layer in range(rnn.num_layers):
        outs = []
        for direction in range(D):
            suffix = f"_l{layer}" + ("_reverse" if direction else "")
            out, last = run(x if direction == 0 else reverse(x), suffix, layer * D + direction)
            outs.append(out if direction == 0 else reverse(out))
            finals.append(last)
        x = outs[0] if D == 1 else torch.cat(outs, dim=-1)
        if layer < rnn.num_layers - 1 and rnn.dropout and rnn.training:
            x = F.dropout(x, rnn.dropout, training=True)
    return x, torch.stack(finals)


def _weights(rnn: nn.RNNBase, suffix: str) -> tuple[torch.Tensor, ...]:
    """w_ih, w_hh, b_ih, b_hh of one layer and direction (biases None without them)."""
    w_ih, w_hh = getattr(rnn, "weight_ih" + suffix), getattr(rnn, "weight_hh" + suffix)
    if not rnn.bias:
        return w_ih, w_hh, None, None
    return w_ih, w_hh, getattr(rnn, "bias_ih" + suffix), getattr(rnn, "bias_hh" + suffix)


class GRU(nn.GRU):
    """torch.nn.GRU with the same parameters and state dict, whose forward runs `gru_layer` on the CPU
    (on other devices torch's own GRU, cuDNN on a GPU, is faster and runs instead).

    Batch-first tensors only (a PackedSequence or batch_first=False goes to torch's own GRU). Extra
    argument `lengths` (B,): right padding is masked, so h_n is each row's state after its last real
    token, as with a packed sequence (the reverse direction reads each row backwards from its last
    real token). Outputs at padded positions are not zeroed.
    """

    use_kernel = KERNEL_DEVICE  # where gru_layer runs; elsewhere torch's GRU (cuDNN on a GPU) with packing

    def forward(self, input, hx=None, lengths=None):
        if isinstance(input, PackedSequence) or not self.batch_first:
            return super().forward(input, hx)
        if input.device.type != self.use_kernel:
            if lengths is None:
                return super().forward(input, hx)
            packed = pack_padded_sequence(input, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, h_n = super().forward(packed, hx)
            return pad_packed_sequence(out, batch_first=True, total_length=input.shape[1])[0], h_n
        B, T, _ = input.shape
        D = 2 if self.bidirectional else 1
        if hx is None:
            hx = input.new_zeros(self.num_layers * D, B, self.hidden_size, dtype=_state_dtype(input))
        mask = (
            None
            if lengths is None
            else torch.arange(T, device=input.device)[:, None] < lengths.to(input.device)[None, :]
        )  # (T, B)

        def run(seq, suffix, index):
            w_ih, w_hh, b_ih, b_hh = _weights(self, suffix)
            x_proj = F.linear(seq, w_ih, b_ih)  # (T, B, 3H)
            return gru_layer(x_proj, hx[index], w_hh, w_hh.new_zeros(w_hh.shape[0]) if b_hh is None else b_hh, mask)

        out, h_n = _layers(self, input.transpose(0, 1), lengths, run)
        return out.transpose(0, 1), h_n


def lstm_precision(x: torch.Tensor) -> tuple[torch.Tensor, contextlib.AbstractContextManager]:
    """An LSTM's input and the context to run it in: under CPU autocast on a processor whose oneDNN has no
    LSTM in the autocast dtype (no AVX-512: textvae.runtime.lstm_runs_in), x in float32 with autocast off, so
    the LSTM runs in float32 instead of failing; everywhere else x as it is and no change."""
    if x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
        name = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(torch.get_autocast_dtype("cpu"))
        if name and not lstm_runs_in(name):
            return x.float(), torch.autocast("cpu", enabled=False)
    return x, contextlib.nullcontext()


def lstm_final_states(lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """h_n of a batch-first torch.nn.LSTM over right-padded x (B, T, E) with `lengths` (B,): each row's
    hidden state after its last real token (the reverse direction: after reading the row backwards from
    it), (layers * directions, B, H), equal to what the LSTM gives for the packed sequence.

    On the CPU torch runs a packed LSTM step by step in its generic code, but a padded batch through
    oneDNN's fused LSTM: each direction of each layer runs here as one padded oneDNN call and the final
    states are read at each row's last token (PTB shapes, B 64, T 26, bidirectional, forward + backward:
    36 ms against 60 packed in bf16, 64 against 106 in fp32). Off the CPU, and for an LSTM with
    projections, the packed LSTM runs."""
    if not lstm.batch_first:
        raise ValueError("lstm_final_states takes a batch-first LSTM")
    x, precision = lstm_precision(x)
    with precision:
        if x.device.type != KERNEL_DEVICE or lstm.proj_size:
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            return lstm(packed)[1][0]
        return _final_states(lstm, x, lengths)


def _final_states(lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    B = x.shape[0]
    last = (lengths.to(x.device) - 1).clamp(min=0)[None, :, None].expand(1, B, lstm.hidden_size)  # (1, B, H)

    def run(seq, suffix, index):
        zeros = seq.new_zeros(1, B, lstm.hidden_size)
        weights = [w for w in _weights(lstm, suffix) if w is not None]
        out = torch.lstm(seq, (zeros, zeros), weights, lstm.bias, 1, 0.0, lstm.training, False, False)[0]
        return out, out.gather(0, last)[0]  # (T, B, H), (B, H)

    return _layers(lstm, x.transpose(0, 1), lengths, run)[1]


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Inverted dropout with the mask drawn by torch.rand: 3x faster on the CPU than F.dropout, whose
    bernoulli_ costs 12 ns an element (2.9 vs 0.9 ms on a (32, 24, 300) batch of embeddings)."""
    if not training or p == 0:
        return x
    keep = torch.rand(x.shape, device=x.device) >= p
    return x * keep.to(x.dtype).mul_(1.0 / (1.0 - p))


class Dropout(nn.Dropout):
    """torch.nn.Dropout through `dropout` (same arguments, same results in distribution)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)
