import pytest
import torch

from landscape.learning.evaluation import evaluate, forward
from landscape.learning.models import build_model


def batch(n=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


def bn_model():
    torch.manual_seed(0)
    model = build_model("cnn_bn_dropout", (1, 28, 28))
    with torch.no_grad():  # non-trivial running statistics
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return model


def test_eval_mode_is_independent_of_chunk_size_and_matches_a_direct_pass():
    model, (x, y) = bn_model(), batch()
    whole = evaluate(model, (x, y), chunk_size=50)
    chunked = evaluate(model, (x, y), chunk_size=7)
    assert whole.loss == pytest.approx(chunked.loss, rel=1e-6) and whole.accuracy == chunked.accuracy
    model.eval()
    with torch.no_grad():
        logits = model(x)
    assert whole.loss == pytest.approx(float(torch.nn.functional.cross_entropy(logits, y)), rel=1e-6)
    assert whole.accuracy == int((logits.argmax(1) == y).sum()) / 50
    per_sample = torch.nn.functional.cross_entropy(logits, y, reduction="none").double()
    assert whole.loss_sd == pytest.approx(float(per_sample.std()), rel=1e-5)  # n − 1 in the denominator
    assert chunked.loss_sd == pytest.approx(whole.loss_sd, rel=1e-4)  # a noise estimate: float32 per-sample losses


def test_train_mode_uses_batch_statistics_and_leaves_the_model_untouched():
    model, (x, y) = bn_model(), batch()
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    train_mode = evaluate(model, (x, y), chunk_size=50, mode="train")
    eval_mode = evaluate(model, (x, y), chunk_size=50, mode="eval")
    assert train_mode.mode == "train" and eval_mode.mode == "eval"
    assert abs(train_mode.loss - eval_mode.loss) > 1e-4  # BN statistics differ
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.training  # flags restored
    again = evaluate(model, (x, y), chunk_size=50, mode="train")
    assert again.loss == train_mode.loss  # dropout stays off: deterministic


def test_substituted_parameters_are_used_and_misspelled_names_rejected():
    model, (x, _) = bn_model(), batch(4)
    zeros = {name: torch.zeros_like(p) for name, p in model.named_parameters()}
    assert torch.count_nonzero(forward(model.eval(), x, zeros)) == 0
    with pytest.raises(ValueError, match="does not have"):
        forward(model, x, {"0.wieght": torch.zeros(1)})
    with pytest.raises(ValueError, match="allowed"):
        evaluate(model, (x, torch.zeros(4, dtype=torch.long)), mode="training")
