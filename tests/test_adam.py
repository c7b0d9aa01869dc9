"""The heads' Adam does torch.optim.Adam's arithmetic: training ends bit-identical on the CPU."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from xares_hydra.heads.adam import Adam
from xares_hydra.heads.training import cosine_lr


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.LayerNorm(16), torch.nn.Linear(16, 5))


def _train(make_optimizer, weight_decay: float, freeze_bias_until: int = 0) -> list[torch.Tensor]:
    model = _model()
    inputs, targets = torch.randn(64, 16), torch.randint(0, 5, (64,))
    optimizer = make_optimizer(list(model.parameters()), weight_decay)
    for epoch in range(6):
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(epoch, 6, 1e-2, 0.1)
        for rows in torch.arange(64).split(16):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(inputs[rows]), targets[rows]).backward()
            if epoch < freeze_bias_until:
                model[1].bias.grad = None  # a parameter with no gradient is not stepped (nor counted)
            optimizer.step()
    return [parameter.detach().clone() for parameter in model.parameters()]


@pytest.mark.parametrize("weight_decay", [0.0, 1e-3])
@pytest.mark.parametrize("freeze_bias_until", [0, 2])
def test_training_is_bit_identical_to_torch_adam(weight_decay: float, freeze_bias_until: int) -> None:
    ours = _train(lambda params, decay: Adam(params, lr=1e-2, weight_decay=decay), weight_decay, freeze_bias_until)
    theirs = _train(
        lambda params, decay: torch.optim.Adam(params, lr=1e-2, weight_decay=decay), weight_decay, freeze_bias_until
    )
    for mine, reference, start in zip(ours, theirs, _model().parameters()):
        assert not torch.equal(mine, start), "the parameters were trained"
        assert torch.equal(mine, reference)


def test_training_a_head_does_not_import_dynamo() -> None:
    script = (
        "import sys, torch\n"
        "from xares_hydra.heads.adam import Adam\n"
        "layer = torch.nn.Linear(4, 2)\n"
        "optimizer = Adam(layer.parameters(), lr=0.1)\n"
        "layer(torch.randn(3, 4)).sum().backward()\n"
        "optimizer.step()\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
