"""The hand-written kernels (textvae.text.kernels) against torch's own modules: values and gradients in
float64 to rounding, padding masked like a packed sequence, bf16 autocast close to float32."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from textvae.text import kernels
from textvae.text.kernels import GRU, dropout, linear_log_prob, lstm_final_states


def grads(output, inputs):
    return torch.autograd.grad(output, inputs)


@pytest.mark.parametrize("n", [350, 1100])  # padded to 352 / 1120 rows inside; 1120: three products
def test_linear_log_prob_matches_cross_entropy_values_and_gradients(n):
    torch.manual_seed(0)
    h = torch.randn(n, 8, dtype=torch.float64, requires_grad=True)
    w = torch.randn(50, 8, dtype=torch.float64, requires_grad=True)
    b = torch.randn(50, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, 50, (n,))
    weights = torch.randn(n, dtype=torch.float64)
    reference = -F.cross_entropy(F.linear(h, w, b), targets, reduction="none")
    fused = linear_log_prob(h, w, b, targets, block=64)  # several blocks, the last one short
    assert fused.shape == (n,)
    assert torch.allclose(fused, reference, atol=1e-12)
    for a, c in zip(grads((reference * weights).sum(), [h, w, b]), grads((fused * weights).sum(), [h, w, b])):
        assert torch.allclose(a, c, atol=1e-12)


def test_linear_log_prob_of_several_targets_a_row_matches_log_softmax_values_and_gradients():
    """K ids a row (the true next token among them, repeats allowed; a mixture of softmaxes' components read it so): the
    log-probabilities of each and the gradient of any weighting of them."""
    torch.manual_seed(1)
    n, k = 350, 5
    h = torch.randn(n, 8, dtype=torch.float64, requires_grad=True)
    w = torch.randn(50, 8, dtype=torch.float64, requires_grad=True)
    b = torch.randn(50, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, 50, (n, k))
    targets[:, 1] = targets[:, 0]  # a repeated id: both gradients count
    weights = torch.randn(n, k, dtype=torch.float64)
    reference = torch.log_softmax(F.linear(h, w, b), -1).gather(1, targets)
    fused = linear_log_prob(h, w, b, targets, block=64)
    assert fused.shape == (n, k) and torch.allclose(fused, reference, atol=1e-12)
    for a, c in zip(grads((reference * weights).sum(), [h, w, b]), grads((fused * weights).sum(), [h, w, b])):
        assert torch.allclose(a, c, atol=1e-12)


def test_linear_log_prob_products_see_recurring_row_counts():
    """The bug: each batch's own row count (its real tokens) made oneDNN build and keep new primitives
    for the output layer's products at nearly every step (6.8 GB of RSS on PTB). Whatever the number of
    rows, the products run on a multiple of ROWS_MULTIPLE rows, forward and backward."""
    from torch.profiler import profile

    from textvae.text.kernels import ROWS_MULTIPLE

    w = torch.randn(40, 8, requires_grad=True)
    b = torch.zeros(40, requires_grad=True)
    rows = set()
    for n in (1, 37, 70, 301):
        h = torch.randn(n, 8, requires_grad=True)
        with profile(record_shapes=True) as prof:
            linear_log_prob(h, w, b, torch.randint(0, 40, (n,)), block=128).sum().backward()
        for event in prof.events():
            if event.name == "aten::mm":
                a, c = event.input_shapes[:2]
                rows.update({a[0], c[1]} - {40, 8})  # (N, H) x (H, V), (N, V) x (V, H), (V, N) x (N, H)
    assert ROWS_MULTIPLE >= 16 and rows and all(r % ROWS_MULTIPLE == 0 for r in rows), sorted(rows)


def test_linear_log_prob_under_bf16_autocast_is_float32_and_close():
    torch.manual_seed(0)
    h, w, b = torch.randn(400, 16), torch.randn(300, 16) * 0.3, torch.zeros(300)
    targets = torch.randint(0, 300, (400,))
    reference = -F.cross_entropy(F.linear(h, w, b), targets, reduction="none")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = linear_log_prob(h, w, b, targets)
    assert low.dtype == torch.float32 and float((low - reference).abs().mean()) < 0.02


@pytest.mark.parametrize("bidirectional,layers", [(False, 1), (True, 1), (False, 2), (True, 2)])
def test_gru_matches_torch_gru_on_padded_batches(bidirectional, layers):
    """Same parameters as torch.nn.GRU; with lengths, the final states equal a packed sequence's."""
    torch.manual_seed(0)
    ours = GRU(6, 5, layers, batch_first=True, bidirectional=bidirectional).double()
    theirs = nn.GRU(6, 5, layers, batch_first=True, bidirectional=bidirectional).double()
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(4, 7, 6, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([7, 3, 5, 1])
    _, h_ours = ours(x, lengths=lengths)
    _, h_theirs = theirs(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    assert torch.allclose(h_ours, h_theirs, atol=1e-12)
    params = [x, *ours.parameters()]
    for a, c in zip(grads(h_ours.square().sum(), params), grads(h_theirs.square().sum(), [x, *theirs.parameters()])):
        assert torch.allclose(a, c, atol=1e-10)
    # without lengths (a decoder): every output and the initial state's gradient too
    h0 = torch.randn(layers * (2 if bidirectional else 1), 4, 5, dtype=torch.float64, requires_grad=True)
    out_ours, _ = ours(x, h0)
    out_theirs, _ = theirs(x, h0)
    assert torch.allclose(out_ours, out_theirs, atol=1e-12)
    assert torch.allclose(grads(out_ours.sum(), [h0])[0], grads(out_theirs.sum(), [h0])[0], atol=1e-12)


@pytest.mark.parametrize("bidirectional,layers", [(False, 1), (True, 1), (True, 2)])
def test_lstm_final_states_equal_a_packed_lstms(bidirectional, layers):
    """The LSTM encoder runs padded batches (oneDNN) instead of packed ones; its summary, h_n, must be
    the packed sequence's, values and gradients, whatever the lengths."""
    torch.manual_seed(0)
    lstm = nn.LSTM(6, 5, layers, batch_first=True, bidirectional=bidirectional).double()
    x = torch.randn(4, 7, 6, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([7, 3, 5, 1])
    ours = lstm_final_states(lstm, x, lengths)
    theirs = lstm(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))[1][0]
    assert ours.shape == theirs.shape == (layers * (2 if bidirectional else 1), 4, 5)
    assert torch.allclose(ours, theirs, atol=1e-12)
    params = [x, *lstm.parameters()]
    for a, c in zip(grads(ours.square().sum(), params), grads(theirs.square().sum(), params)):
        assert torch.allclose(a, c, atol=1e-10)


def test_lstm_final_states_under_bf16_autocast_stay_close_to_float32(monkeypatch):
    torch.manual_seed(0)
    lstm = nn.LSTM(16, 32, batch_first=True, bidirectional=True)
    x, lengths = torch.randn(8, 12, 16), torch.tensor([12, 3, 5, 1, 9, 12, 7, 2])
    exact = lstm_final_states(lstm, x, lengths)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = lstm_final_states(lstm, x, lengths)
    assert float((low.float() - exact).detach().abs().max()) < 0.03
    monkeypatch.setattr(kernels, "KERNEL_DEVICE", "none")  # no device has this type: the packed path, as on a GPU
    assert torch.allclose(lstm_final_states(lstm, x, lengths), exact, atol=1e-6)


def test_gru_off_the_kernel_device_runs_torch_gru_with_packing():
    """Off the CPU (cuDNN on a GPU) the module runs torch's GRU; the lengths still mask the padding."""
    torch.manual_seed(0)
    gru = GRU(6, 5, batch_first=True, bidirectional=True).double()
    x, lengths = torch.randn(4, 7, 6, dtype=torch.float64), torch.tensor([7, 3, 5, 1])
    _, kernel = gru(x, lengths=lengths)
    gru.use_kernel = "none"  # no device has this type: the torch path, as on a GPU
    out, fallback = gru(x, lengths=lengths)
    assert out.shape == (4, 7, 10) and torch.allclose(kernel, fallback, atol=1e-12)


def test_gru_under_bf16_autocast_stays_close_to_float32():
    torch.manual_seed(0)
    gru, x = GRU(8, 16, batch_first=True), torch.randn(3, 12, 8)
    with torch.no_grad():
        reference, _ = gru(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low, _ = gru(x)
    assert low.dtype == torch.bfloat16 and float((low.float() - reference).abs().max()) < 0.03


def test_dropout_keeps_expectation_and_is_identity_in_eval():
    torch.manual_seed(0)
    x = torch.ones(200, 500)
    y = dropout(x, 0.3, training=True)
    assert abs(float((y == 0).float().mean()) - 0.3) < 0.01 and abs(float(y.mean()) - 1.0) < 0.01
    assert dropout(x, 0.3, training=False) is x and dropout(x, 0.0, training=True) is x


def test_linear_log_prob_without_grad_holds_one_block_of_logits():
    """Under no_grad (evaluation) the parameters still require grad; the (N, V) logits must not be
    kept then (they were: 350 MB a chunk of a k=500 PTB evaluation)."""
    from torch.profiler import profile

    h, w, b = torch.randn(4000, 8), torch.randn(500, 8, requires_grad=True), torch.zeros(500, requires_grad=True)
    targets = torch.randint(0, 500, (4000,))
    full = 4000 * 500 * 4
    with torch.no_grad(), profile(profile_memory=True) as prof:
        linear_log_prob(h, w, b, targets, block=256)
    largest = max(e.cpu_memory_usage for e in prof.events())
    assert 0 < largest < full / 4, largest
    with profile(profile_memory=True) as prof:  # with grad the logits are kept for backward
        linear_log_prob(h, w, b, targets, block=256)
    assert max(e.cpu_memory_usage for e in prof.events()) >= full / 2
