"""FlatAdam: torch's Adam step over one flat tensor, checked by hand and against torch.optim.Adam; its state dict
is torch's; training with a constant learning rate never imports torch._dynamo."""

from __future__ import annotations

import copy

import pytest
import torch

import aekit
from aekit.optim import FlatAdam, make_optimizer
from conftest import modules_imported_by, tiny_config


def _param(seed: int = 0, n: int = 50) -> torch.nn.Parameter:
    g = torch.Generator().manual_seed(seed)
    p = torch.nn.Parameter(torch.randn(n, generator=g))
    p.grad = torch.zeros(n)
    return p


def _grads(k: int, n: int = 50) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(100)
    return [torch.randn(n, generator=g) * 10 ** (i % 3 - 1) for i in range(k)]


@pytest.mark.parametrize("fused", [True, False])
def test_the_first_step_by_hand(fused):
    """Step 1 from zero moments: m = (1 - b1) g, v = (1 - b2) g^2; the bias corrections give m^ = g, v^ = g^2, so
    p1 = p0 - lr g / (|g| + eps): a step of lr against the gradient's sign (eps is 1e-8, far below |g|)."""
    p = _param()
    start = p.detach().clone()
    opt = FlatAdam(p, lr=0.01)
    opt.fused = fused and opt.fused
    g = _grads(1)[0]
    p.grad.copy_(g)
    opt.step()
    torch.testing.assert_close(p.detach(), start - 0.01 * g / (g.abs() + 1e-8), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(opt.exp_avg, 0.1 * g, rtol=1e-6, atol=0)
    torch.testing.assert_close(opt.exp_avg_sq, 0.001 * g * g, rtol=1e-5, atol=0)
    assert opt.step_t.item() == 1


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_it_follows_torch_adam(fused, weight_decay):
    ours, ref = _param(), _param()
    opt = FlatAdam(ours, lr=3e-3, weight_decay=weight_decay)
    opt.fused = fused and opt.fused
    opt_ref = torch.optim.Adam([ref], lr=3e-3, weight_decay=weight_decay, foreach=False)
    for g in _grads(6):  # moments and bias corrections matter from the second step on
        ours.grad.copy_(g)
        ref.grad.copy_(g)
        opt.step()
        opt_ref.step()
    # the same arithmetic in another order of operations: a few float32 ulps apart at most
    torch.testing.assert_close(ours.detach(), ref.detach(), rtol=1e-5, atol=1e-6)
    assert not torch.equal(ours.detach(), _param().detach())


def test_its_state_dict_is_torch_adams_both_ways():
    grads = _grads(6)
    a, b = _param(), _param()
    fa = FlatAdam(a, lr=2e-3)
    tb = torch.optim.Adam([b], lr=2e-3, foreach=False)
    for g in grads[:3]:
        a.grad.copy_(g)
        fa.step()
        b.grad.copy_(g)
        tb.step()
    sd_f, sd_t = copy.deepcopy(fa.state_dict()), copy.deepcopy(tb.state_dict())  # (both hand out live tensors)
    assert set(sd_f["state"][0]) == set(sd_t["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    assert sd_f["state"][0]["step"].item() == sd_t["state"][0]["step"].item() == 3
    # swap: torch's state continues in FlatAdam and FlatAdam's in torch's Adam
    a2, b2 = _param(), _param()
    with torch.no_grad():
        a2.copy_(b)
        b2.copy_(a)
    fa2, tb2 = FlatAdam(a2, lr=1.0), torch.optim.Adam([b2], lr=1.0, foreach=False)
    fa2.load_state_dict(sd_t)
    tb2.load_state_dict(sd_f)
    assert fa2.param_groups[0]["lr"] == 2e-3  # the saved settings win, as in torch
    for g in grads[3:]:
        for p, o in ((a, fa), (b, tb), (a2, fa2), (b2, tb2)):
            p.grad.copy_(g)
            o.step()
    torch.testing.assert_close(a2.detach(), b.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(b2.detach(), a.detach(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        FlatAdam(_param(n=7)).load_state_dict(sd_t)


def test_which_optimizer():
    flat = _param()
    assert isinstance(make_optimizer([flat], 1e-3), FlatAdam)
    assert isinstance(make_optimizer([flat], 1e-3, schedule="onecycle"), torch.optim.Adam)  # schedules need torch's
    assert isinstance(make_optimizer([_param(), _param(1)], 1e-3), torch.optim.Adam)


def test_a_constant_rate_run_resumes_bit_identically(tmp_path, small_digits):
    straight = aekit.fit(tiny_config(epochs=3, weight_decay=1e-3), small_digits, quiet=True)
    aekit.fit(tiny_config(epochs=2, weight_decay=1e-3), small_digits, out_dir=tmp_path / "r", quiet=True)
    resumed = aekit.fit(tiny_config(epochs=3, weight_decay=1e-3), small_digits, out_dir=tmp_path / "r", resume=True,
                        quiet=True)
    assert [r["train/loss"] for r in resumed.history] == [r["train/loss"] for r in straight.history]
    assert all(torch.equal(x, y) for x, y in zip(resumed.model.state_dict().values(),
                                                  straight.model.state_dict().values()))


def test_training_at_a_constant_rate_does_not_import_dynamo():
    code = ("import torch, aekit; aekit.fit(aekit.Config().override(arch='mlp', hidden=(8,), latent_dim=2, "
            "epochs=1, batch_size=16, val_fraction=0.0), torch.rand(64, 6), quiet=True)")
    assert "torch._dynamo" not in modules_imported_by(code)


@pytest.mark.parametrize("change", ["removed", "new arguments"])
def test_a_torch_without_its_private_fused_kernel_gets_the_public_step(monkeypatch, change):
    """FlatAdam calls torch._fused_adam_ (private): where it is gone, or takes other arguments, the step is the
    unfused one made of public tensor operations, with torch.optim.Adam's numbers."""
    if change == "removed":
        monkeypatch.delattr(torch, "_fused_adam_", raising=False)
    else:
        def changed(*args, new_required_argument, **kw):
            raise AssertionError("not reached")

        monkeypatch.setattr(torch, "_fused_adam_", changed, raising=False)
    ours, ref = _param(), _param()
    opt = FlatAdam(ours, lr=3e-3)
    opt_ref = torch.optim.Adam([ref], lr=3e-3, foreach=False)
    for g in _grads(4):
        ours.grad.copy_(g)
        ref.grad.copy_(g)
        opt.step()
        opt_ref.step()
    assert not opt.fused
    torch.testing.assert_close(ours.detach(), ref.detach(), rtol=1e-5, atol=1e-6)


def test_the_program_exits_the_ordinary_way_without_atexits_private_runner(monkeypatch):
    """aekit.cli.run leaves through atexit._run_exitfuncs and os._exit; a Python without the private function gets
    sys.exit, with main's code."""
    import atexit
    import os

    from aekit import cli

    monkeypatch.delattr(atexit, "_run_exitfuncs")
    monkeypatch.setattr(cli, "main", lambda: 3)
    monkeypatch.setattr(os, "_exit", lambda code: (_ for _ in ()).throw(AssertionError("os._exit was called")))
    monkeypatch.setattr(cli.gc, "freeze", lambda: None)
    with pytest.raises(SystemExit) as e:
        cli.run()
    assert e.value.code == 3


def test_denormals_are_flushed_only_while_aekit_works():
    """import aekit leaves the process's floating point alone (its worker threads too); fit and inference flush
    denormals on their thread while they run and restore the setting; the aekit program flushes everywhere."""
    script = """
import sys
if len(sys.argv) > 1:
    sys.argv[0] = sys.argv[1]  # as the aekit program
import numpy as np, torch
import aekit
from aekit import apps, fp
x = torch.full((1 << 20,), 1e-40)
pool = lambda: float(((x * 1.0) == 0).float().mean())  # the share flushed of an op on every thread
seen = []
cfg = aekit.Config().override(arch="mlp", hidden=(4,), latent_dim=2, epochs=2, val_fraction=0.0)
res = aekit.fit(cfg, np.random.default_rng(0).random((40, 5), dtype=np.float32), quiet=True,
                on_epoch=lambda r: seen.append(fp.flushing()))
apps.encode(res.model, np.zeros((3, 5), dtype=np.float32))
import os, tempfile  # a table's model trains on one thread (fp.table_threads): the pool comes back as it was
path = os.path.join(tempfile.mkdtemp(), "t.csv")
with open(path, "w") as f:
    f.write("a,b\\n" + "".join(f"{i / 7:.3f},{'xyz'[i % 3]}\\n" for i in range(40)))
aekit.fit(cfg, aekit.load_data(aekit.DataConfig(dataset="table", path=path)), quiet=True,
          on_epoch=lambda r: seen.append(fp.flushing()))
print(fp.flushing(), pool(), seen)
"""
    import subprocess
    import sys

    user = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert user.returncode == 0, user.stderr
    assert user.stdout.split() == ["False", "0.0", "[True,", "True,", "True,", "True]"]  # inside fit, restored after
    program = subprocess.run([sys.executable, "-c", script, "/usr/bin/aekit"], capture_output=True, text=True,
                             timeout=120)
    assert program.returncode == 0, program.stderr
    assert program.stdout.split()[:2] == ["True", "1.0"]  # the program: every thread, from the start
