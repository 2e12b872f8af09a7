"""Sample quality on MNIST: FID_clf, precision and recall of generated digits, aekit against pythae 0.1.2.

Harness (one for every model): a small CNN classifier is trained on the 10,000 training images (seed 0); its 128-d
penultimate features stand in for Inception's (no Inception weights are reachable here). FID_clf is the Fréchet
distance between the features of 10,000 samples and of the 10,000 test images; precision and recall are the improved
ones of Kynkäänniemi et al. 2019 (k = 5): precision is the share of samples inside some test image's k-NN ball,
recall the share of test images inside some sample's k-NN ball. The floor is the training images themselves.

Models: the network of the issue (MLP 784-512-256-32 and back, ReLU, Bernoulli decoder, Adam 1e-3, batch 128), 100
epochs on the 10,000 training images, each with the samplers it has. Recipes are chosen on a validation split (the
last 2,000 training images held out, samples compared with them); the test set is used only for the table.

    python benchmarks/bench_generate.py                 # aekit's models and the peer, on the test set
    python benchmarks/bench_generate.py --choose        # the recipe search, on the validation split
"""

from __future__ import annotations

import tempfile
import time

import numpy as np
import torch
from torch import nn

import aekit
from aekit import apps
from aekit.sampler import fit_sampler
from common import header, parser

N_SAMPLES = 10_000


# --- the harness ----------------------------------------------------------------------------------------------------
class Classifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 32, 14, 14)
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 64, 7, 7)
            nn.Flatten(), nn.Linear(64 * 49, 128), nn.ReLU())  # (B, 128)
        self.head = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def train_classifier(x: torch.Tensor, y: torch.Tensor, epochs: int = 8, seed: int = 0) -> Classifier:
    torch.manual_seed(seed)
    net = Classifier()
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(128):
            loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


@torch.no_grad()
def features(net: Classifier, x: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(N, 1, 28, 28) -> the 128-d features (N, 128) and the predicted classes (N,)."""
    x = torch.tensor(np.asarray(x, dtype=np.float32)).reshape(-1, 1, 28, 28)
    f = torch.cat([net.features(x[i:i + 1000]) for i in range(0, len(x), 1000)])
    return f.double().numpy(), net.head(f).argmax(1).numpy()


def fid(a: np.ndarray, b: np.ndarray) -> float:
    from scipy import linalg

    ma, mb = a.mean(0), b.mean(0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(ca @ cb).real  # (dead ReLU features make both singular; the root stays defined)
    return float(((ma - mb) ** 2).sum() + np.trace(ca + cb - 2 * root))


def _radii(f: torch.Tensor, k: int) -> torch.Tensor:
    d = torch.cat([torch.cdist(f[i:i + 2000], f) for i in range(0, len(f), 2000)])
    return d.kthvalue(k + 1, dim=1).values  # the k-th neighbour besides the point itself


def _covered(points: torch.Tensor, centers: torch.Tensor, radii: torch.Tensor) -> float:
    hit = [(torch.cdist(points[i:i + 2000], centers) <= radii[None]).any(1) for i in range(0, len(points), 2000)]
    return float(torch.cat(hit).float().mean())


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 5) -> tuple[float, float]:
    r, f = torch.from_numpy(real).float(), torch.from_numpy(fake).float()
    return _covered(f, r, _radii(r, k)), _covered(r, f, _radii(f, k))


class Harness:
    def __init__(self, train_x: torch.Tensor, train_y: np.ndarray, ref_x: torch.Tensor) -> None:
        t0 = time.perf_counter()
        self.net = train_classifier(train_x, torch.tensor(train_y, dtype=torch.long))
        self.ref, _ = features(self.net, ref_x)
        self.seconds = time.perf_counter() - t0

    def score(self, samples: np.ndarray, labels: np.ndarray | None = None) -> dict:
        f, pred = features(self.net, samples)
        p, r = precision_recall(self.ref, f)
        out = {"fid": fid(f, self.ref), "precision": p, "recall": r}
        if labels is not None:
            out["agree"] = float((pred == labels).mean())
        return out


# --- models ---------------------------------------------------------------------------------------------------------
MLP = dict(arch="mlp", recon="bce", hidden=(512, 256), latent_dim=32, batch_size=128, lr=1e-3)
CONV = dict(arch="conv", recon="bce", channels=(32, 64, 128), latent_dim=32, batch_size=64, lr=2e-3,
            schedule="onecycle")
CANDIDATES: dict[str, dict] = {  # name -> config fields; epochs from --epochs unless given
    "vae": dict(MLP, variant="vae"),
    "vanilla": dict(MLP, variant="vanilla"),
    "vae-beta0.3": dict(MLP, variant="vae", kl_beta=0.3),
    "conv-vanilla": dict(CONV, variant="vanilla", epochs=20),
    "conv-vae": dict(CONV, variant="vae", epochs=20),
}


def aekit_model(x: torch.Tensor, name: str, epochs: int, seed: int = 0):
    fields = dict(epochs=epochs, val_fraction=0.0, seed=seed, sampler="none")
    fields.update(CANDIDATES[name])
    cfg = aekit.Config().override(**fields)
    t0 = time.perf_counter()
    model = aekit.fit(cfg, aekit.Split(x), quiet=True).model
    return model, time.perf_counter() - t0


def aekit_samples(model, x: torch.Tensor, sampler: str, components: int = 100, seed: int = 0,
                  y: np.ndarray | None = None, em_steps: int = 5) -> np.ndarray:
    if sampler == "gmm":
        fit_sampler(model, x, components, seed=seed, y=y, max_iter=em_steps)
    return apps.sample(model, N_SAMPLES, seed=seed, sampler=sampler)


def agreement(h: "Harness", model) -> float:
    """The share of class-conditional samples (1,000 per class) that the harness's classifier puts in the asked
    class."""
    hits = []
    for c in model.sampler.classes:
        _, pred = features(h.net, apps.sample(model, 1000, seed=c, label=c))
        hits.append(float(np.mean(pred == c)))
    return float(np.mean(hits))


def pythae_vae(x: torch.Tensor, epochs: int, seed: int = 0):
    """pythae 0.1.2's VAE on the same network, and its two samplers."""
    import logging
    import os

    os.environ["TQDM_DISABLE"] = "1"  # pythae's per-batch bars
    logging.getLogger("pythae").setLevel(logging.WARNING)
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig

    class Enc(BaseEncoder):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU())
            self.mu, self.lv = nn.Linear(256, 32), nn.Linear(256, 32)

        def forward(self, x):
            h = self.net(x)
            return ModelOutput(embedding=self.mu(h), log_covariance=self.lv(h))

    class Dec(BaseDecoder):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(32, 256), nn.ReLU(), nn.Linear(256, 512), nn.ReLU(),
                                     nn.Linear(512, 784), nn.Sigmoid())

        def forward(self, z):
            return ModelOutput(reconstruction=self.net(z).view(-1, 1, 28, 28))

    torch.manual_seed(seed)
    cfg = VAEConfig(input_dim=(1, 28, 28), latent_dim=32, reconstruction_loss="bce")
    model = VAE(cfg, encoder=Enc(), decoder=Dec())
    with tempfile.TemporaryDirectory() as out:
        tc = BaseTrainerConfig(output_dir=out, learning_rate=1e-3, per_device_train_batch_size=128,
                               num_epochs=epochs, no_cuda=True, seed=seed)
        t0 = time.perf_counter()
        TrainingPipeline(training_config=tc, model=model)(train_data=x)
        seconds = time.perf_counter() - t0
    return model.eval(), seconds


def pythae_samples(model, x: torch.Tensor, sampler: str, components: int = 10, seed: int = 0) -> np.ndarray:
    from pythae.samplers import GaussianMixtureSampler, GaussianMixtureSamplerConfig, NormalSampler

    torch.manual_seed(seed)
    if sampler == "normal":
        s = NormalSampler(model)
    else:
        s = GaussianMixtureSampler(model, GaussianMixtureSamplerConfig(n_components=components))
        s.fit(x)
    return s.sample(num_samples=N_SAMPLES).detach().numpy()


# --- the runs -------------------------------------------------------------------------------------------------------
def row(name: str, scores: dict, seconds: float | None = None) -> None:
    t = f"{seconds:6.0f}" if seconds is not None else "     -"
    print(f"| {name:<58} | {scores['fid']:7.1f} | {scores['precision']:.3f} | {scores['recall']:.3f} | {t} |",
          flush=True)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--choose", action="store_true", help="the recipe search on a validation split")
    p.add_argument("--no-peer", action="store_true", help="skip pythae")
    p.add_argument("--candidates", nargs="+", default=["vae", "vanilla"], choices=list(CANDIDATES))
    p.add_argument("--components", type=int, nargs="+", default=[100])
    p.add_argument("--em-steps", type=int, nargs="+", default=[5], help="EM steps after the k-means start")
    args = p.parse_args()
    header("MNIST samples: FID_clf, precision, recall (k = 5)")
    data = aekit.load_data(aekit.DataConfig(dataset="mnist", data_dir=args.data_dir), download=False)
    x, y = data.train.x, data.train.y
    if args.choose:
        x, y, ref_x = x[:8000], y[:8000], x[8000:]
        print("choosing on a validation split: trained on 8,000 training images, compared with the other 2,000")
    else:
        ref_x = data.test.x
    h = Harness(x, y, ref_x)
    _, pred = features(h.net, ref_x)
    ref_y = data.train.y[8000:] if args.choose else data.test.y
    print(f"harness classifier: {h.seconds:.0f} s, accuracy {np.mean(pred == ref_y):.4f} on the reference images")
    print("\n| samples | FID_clf | precision | recall | train s |\n|---|---:|---:|---:|---:|")
    row("the training images (the floor)", h.score(x[:N_SAMPLES].numpy()))
    if not args.no_peer:
        model, sec = pythae_vae(x, args.epochs)
        row("pythae 0.1.2 VAE, N(0, I)", h.score(pythae_samples(model, x, "normal")), sec)
        row("pythae 0.1.2 VAE, GMM 10", h.score(pythae_samples(model, x, "gmm", 10)), sec)
        row("pythae 0.1.2 VAE, GMM 100", h.score(pythae_samples(model, x, "gmm", 100)), sec)
    for name in args.candidates:
        model, sec = aekit_model(x, name, args.epochs)
        if model.is_variational:
            row(f"aekit {name}, N(0, I)", h.score(aekit_samples(model, x, "normal")), sec)
        for k in args.components:
            for steps in args.em_steps[1:]:  # the others, compared with the first below
                row(f"aekit {name}, GMM {k}, {steps} EM steps", h.score(aekit_samples(model, x, "gmm", k,
                                                                                      em_steps=steps)), sec)
            row(f"aekit {name}, GMM {k}", h.score(aekit_samples(model, x, "gmm", k, em_steps=args.em_steps[0])), sec)
            t0 = time.perf_counter()
            scores = h.score(aekit_samples(model, x, "gmm", k, y=y, em_steps=args.em_steps[0]))
            row(f"aekit {name}, GMM {k} fitted by class (labels)", scores, sec)
            print(f"  (fit in {time.perf_counter() - t0:.1f} s with sampling; class-conditional samples that the "
                  f"harness's classifier puts in the asked class: {agreement(h, model):.3f})", flush=True)


if __name__ == "__main__":
    main()
