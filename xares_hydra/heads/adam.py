"""Adam for the heads: the update of ``torch.optim.Adam`` (its single-tensor path, the one it takes on the
CPU), without ``torch.optim``.

``torch.optim.Optimizer.step`` imports ``torch._dynamo`` on its first call, which costs more than a second
of start-up on a small machine, longer than training a probe. This module does the same arithmetic in the
same order (L2 weight decay added to the gradient, bias-corrected moments, ``eps`` outside the square root),
so a head trained with it on the CPU ends bit-identical to one trained with ``torch.optim.Adam``
(tests/test_adam.py holds it to that).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

# torch.optim.Adam's defaults (the heads change neither)
BETAS, EPS = (0.9, 0.999), 1e-8


class Adam:
    """The part of the ``torch.optim.Optimizer`` interface the heads use: ``param_groups`` (one group; its
    ``lr`` may be changed between steps), ``zero_grad`` and ``step``."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float, weight_decay: float = 0.0) -> None:
        self.param_groups: list[dict[str, Any]] = [{"params": list(params), "lr": lr}]
        self.weight_decay = weight_decay
        # per parameter, as torch counts them: a parameter without a gradient is not stepped
        self.steps = [0] * len(self.param_groups[0]["params"])
        self.moments = [(torch.zeros_like(param), torch.zeros_like(param)) for param in self.param_groups[0]["params"]]

    def zero_grad(self) -> None:
        for param in self.param_groups[0]["params"]:
            param.grad = None

    @torch.no_grad()
    def step(self) -> None:
        group = self.param_groups[0]
        lr, (beta1, beta2), weight_decay = group["lr"], BETAS, self.weight_decay
        for index, (param, (exp_avg, exp_avg_sq)) in enumerate(zip(group["params"], self.moments)):
            if param.grad is None:
                continue
            self.steps[index] += 1
            step_size = lr / (1 - beta1 ** self.steps[index])
            bias_correction2_sqrt = (1 - beta2 ** self.steps[index]) ** 0.5
            grad = param.grad if weight_decay == 0 else param.grad.add(param, alpha=weight_decay)
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(EPS)
            param.addcdiv_(exp_avg, denom, value=-step_size)
