"""The optimizer: Adam, over the flat parameter buffer of :func:`aekit.train.flatten_parameters` where it can be.

``torch.optim``'s first optimizer imports ``torch._dynamo`` (~0.8 s of CPU, a sixth of the whole demo's process), so
the common case (one flat parameter, a constant learning rate) runs :class:`FlatAdam`, a few lines of tensor
arithmetic that are torch's own Adam step and keep its state-dict layout (a checkpoint of either resumes with either).
Learning-rate schedules are torch's ``LRScheduler``s, which need a ``torch.optim.Optimizer``: with a schedule, and for
models whose parameters could not be flattened, torch's Adam is used.
"""

from __future__ import annotations

import sys
from typing import Any

import torch

from .registry import SCHEDULES


class FlatAdam:
    """Adam (Kingma & Ba; torch.optim.Adam's arithmetic, L2 ``weight_decay`` added to the gradient) over one tensor.

    Parameters
    ----------
    param : the one trainable tensor (N,), whose ``.grad`` backward fills.
    lr, betas, eps, weight_decay : as torch.optim.Adam.

    ``param_groups``, ``state_dict()`` and ``load_state_dict()`` have torch.optim.Adam's layout (one group, parameter
    0 with ``step``, ``exp_avg`` and ``exp_avg_sq``).
    """

    def __init__(self, param: torch.Tensor, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        self.param = param
        self.param_groups = [{"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                              "amsgrad": False, "maximize": False, "foreach": None, "capturable": False,
                              "differentiable": False, "fused": None, "decoupled_weight_decay": False,
                              "params": [0]}]
        self.step_t = torch.zeros((), dtype=torch.float32, device=param.device)  # () steps taken, as torch keeps it
        self.fused = hasattr(torch, "_fused_adam_")  # torch's fused kernel (what Adam(fused=True) runs)
        self.exp_avg = torch.zeros_like(param, memory_format=torch.preserve_format)  # (N,) first moment
        self.exp_avg_sq = torch.zeros_like(param, memory_format=torch.preserve_format)  # (N,) second moment
        self._denom: torch.Tensor | None = None  # (N,) scratch of the unfused step, so that a step allocates nothing

    @torch.no_grad()
    def step(self) -> None:
        g = self.param_groups[0]
        grad = self.param.grad
        if grad is None:
            return
        (beta1, beta2), lr, eps, wd = g["betas"], g["lr"], g["eps"], g["weight_decay"]
        self.step_t += 1
        if self.fused:
            try:  # one pass over memory, in torch's fused kernel: the numbers of Adam(fused=True)
                torch._fused_adam_([self.param], [grad], [self.exp_avg], [self.exp_avg_sq], [], [self.step_t],
                                   lr=lr, beta1=beta1, beta2=beta2, weight_decay=wd, eps=eps, amsgrad=False,
                                   maximize=False)
                return
            except (RuntimeError, NotImplementedError, TypeError):  # a device without the kernel, or a torch whose
                # private kernel changed its arguments: the same step, unfused (public tensor operations)
                self.fused = False
        if wd != 0:
            grad = grad.add(self.param, alpha=wd)
        self.exp_avg.lerp_(grad, 1 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step = self.step_t.item()
        bias_correction1 = 1 - beta1 ** step
        bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
        if self._denom is None:
            self._denom = torch.empty_like(self.param)
        torch.sqrt(self.exp_avg_sq, out=self._denom)
        self._denom.div_(bias_correction2_sqrt).add_(eps)
        self.param.addcdiv_(self.exp_avg, self._denom, value=-lr / bias_correction1)

    def state_dict(self) -> dict[str, Any]:
        state = {} if self.step_t.item() == 0 else {0: {
            "step": self.step_t, "exp_avg": self.exp_avg, "exp_avg_sq": self.exp_avg_sq}}
        return {"state": state, "param_groups": [dict(g) for g in self.param_groups]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        groups = state_dict["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != 1:
            raise ValueError(f"the optimizer state has {len(groups)} parameter group(s) of "
                             f"{[len(g['params']) for g in groups]} tensors; this model trains one flat tensor")
        for key in ("lr", "betas", "eps", "weight_decay"):
            self.param_groups[0][key] = tuple(groups[0][key]) if key == "betas" else groups[0][key]
        entry = state_dict["state"].get(0)
        if entry is None:
            self.step_t.zero_()
            self.exp_avg.zero_()
            self.exp_avg_sq.zero_()
            return
        for key in ("exp_avg", "exp_avg_sq"):
            if tuple(entry[key].shape) != tuple(self.param.shape):
                raise ValueError(f"the optimizer state's {key} has shape {tuple(entry[key].shape)}; the model's "
                                 f"parameters are {tuple(self.param.shape)}")
        self.step_t.fill_(float(entry["step"]))
        self.exp_avg.copy_(entry["exp_avg"])
        self.exp_avg_sq.copy_(entry["exp_avg_sq"])


def uses_torch_optim(schedule: str, flat: bool = True) -> bool:
    """Whether training with this schedule (and flat parameters or not) constructs a ``torch.optim`` optimizer."""
    return not flat or SCHEDULES.canonical(schedule) != "none"


def make_optimizer(params: list[torch.Tensor], lr: float, weight_decay: float = 0.0,
                   schedule: str = "none") -> FlatAdam | torch.optim.Optimizer:
    """Adam for ``params``: :class:`FlatAdam` for one flat tensor under a constant learning rate; otherwise torch's
    Adam, fused into one kernel where this torch supports it (~25 % faster steps for small models on CPU)."""
    if len(params) == 1 and params[0].dim() == 1 and not uses_torch_optim(schedule):
        return FlatAdam(params[0], lr=lr, weight_decay=weight_decay)
    try:
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError):  # older torch, or a device without the fused kernel
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def preload_optimizer_imports(schedule: str = "onecycle", flat: bool = True) -> None:
    """When training will construct a torch.optim optimizer, start importing what its first use imports
    (torch._dynamo, ~0.8 s) in a background thread, so that it overlaps with loading the data."""
    if uses_torch_optim(schedule, flat) and "torch._dynamo" not in sys.modules:
        import importlib
        import threading

        threading.Thread(target=importlib.import_module, args=("torch._dynamo",), daemon=True).start()


__all__ = ["FlatAdam", "make_optimizer", "preload_optimizer_imports", "uses_torch_optim"]
