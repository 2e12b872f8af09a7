"""Name -> component registries: the one source of names for the CLI, configs and tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Generic, Iterable, Iterator, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A named table of components; unknown names raise an error that lists the known ones."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._aliases: dict[str, str] = {}
        self._options: dict[str, tuple[str, ...]] = {}

    def register(self, name: str, *aliases: str, options: tuple[str, ...] = ()) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            self.add(name, obj, *aliases, options=options)
            return obj

        return deco

    def add(self, name: str, obj: T, *aliases: str, options: tuple[str, ...] = ()) -> None:
        """Register obj under name (and aliases); ``options``: the config fields that only this component reads."""
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = obj
        self._options[name] = tuple(options)
        for a in aliases:
            self._aliases[a] = name

    def canonical(self, name: str) -> str:
        name = self._aliases.get(name, name)
        if name not in self._items:
            raise ValueError(f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}")
        return name

    def get(self, name: str) -> T:
        return self._items[self.canonical(name)]

    def names(self) -> list[str]:
        return list(self._items)

    def options(self, name: str) -> tuple[str, ...]:
        """The config fields that only this component reads."""
        return self._options[self.canonical(name)]

    def unused_options(self, chosen: Iterable[str], given: Iterable[str]) -> list[tuple[str, str]]:
        """(option, the component that would read it) for each of ``given`` that only components other than
        ``chosen`` read: an option that would be silently ignored."""
        used = {o for n in chosen for o in self.options(n)}
        return [(o, n) for n in self._items for o in self._options[n] if o in set(given) and o not in used]

    def __contains__(self, name: str) -> bool:
        return self._aliases.get(name, name) in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)


@dataclass(frozen=True)
class VariantSpec:
    """What a variant changes: the bottleneck, the code activation, loss terms, input corruption."""

    gaussian: bool = False  # Gaussian bottleneck (mu, logvar) instead of a deterministic one
    sigmoid_code: bool = False  # the code goes through a sigmoid (sparse)
    terms: tuple[str, ...] = ()  # names in TERMS
    corrupt: bool = False  # corrupt the input in training (denoising)
    quantize: bool = False  # an integer code with a learned prior (rate)
    classify: bool = False  # a classifier head on the code, trained on the labelled rows (classifier)


VARIANTS: Registry[VariantSpec] = Registry("variant")
VARIANTS.add("vanilla", VariantSpec(), "basic")
VARIANTS.add("sparse", VariantSpec(sigmoid_code=True, terms=("sparsity",)), options=("rho", "sparsity_beta"))
VARIANTS.add("denoising", VariantSpec(corrupt=True), options=("noise", "noise_level"))
VARIANTS.add("vae", VariantSpec(gaussian=True, terms=("kl",)), "variational", options=("kl_beta",))
VARIANTS.add("contractive", VariantSpec(terms=("contractive",)), options=("contractive_lambda",))
VARIANTS.add("rate", VariantSpec(quantize=True, terms=("rate",)), "compression",
             options=("rate_lambda", "train_quantization", "code_prior"))
VARIANTS.add("classifier", VariantSpec(classify=True, terms=("classify", "consistency", "pseudo")), "semisupervised",
             options=("classes", "classify_weight", "consistency_weight", "pseudo_weight", "label_batch",
                      "view_degrees", "view_noise", "neighbour_share"))


@dataclass(frozen=True)
class Term:
    """A loss term: ``fn(inputs) -> scalar`` (inputs: :class:`aekit.terms.TermInputs`), weighted in the total by
    the LossConfig field named ``weight``. ``input_grad``: the term differentiates with respect to the input."""

    fn: Callable
    weight: str
    input_grad: bool = False


# Filled by the modules that define the components (imported by aekit/__init__.py).
TERMS: Registry[Term] = Registry("loss term")
ARCHITECTURES: Registry[Callable] = Registry("architecture")
CORRUPTIONS: Registry[Callable] = Registry("corruption")
RECON_LOSSES: Registry[Callable] = Registry("reconstruction loss")
ACTIVATIONS: Registry[Callable] = Registry("activation")
SCHEDULES: Registry[Callable] = Registry("schedule")
DATASETS: Registry[Callable] = Registry("dataset")
SAMPLERS: Registry[str] = Registry("sampler")  # name -> what it draws from (see aekit.sampler)
SAMPLERS.add("gmm", "a Gaussian mixture fitted to the training codes (the default where a run has one)")
SAMPLERS.add("normal", "the prior N(0, I), through the code activation (variational models only)")


def parse_variant(text: str) -> tuple[str, ...]:
    """'sparse+denoising' -> ('sparse', 'denoising'), canonical names, sorted, 'vanilla' dropped when combined."""
    parts = [p.strip() for p in text.replace(",", "+").split("+") if p.strip()]
    if not parts:
        raise ValueError("empty variant; choose from: " + ", ".join(VARIANTS.names()))
    names = sorted({VARIANTS.canonical(p) for p in parts}, key=VARIANTS.names().index)
    if len(names) > 1 and "vanilla" in names:
        names.remove("vanilla")
    clash = [n for n in ("vae", "sparse") if n in names]
    if "rate" in names and clash:
        raise ValueError(f"the rate variant has its own bottleneck (an integer code with a learned prior) and cannot "
                         f"be combined with {clash[0]}")
    return tuple(names)


def combine_variants(names: tuple[str, ...]) -> VariantSpec:
    specs = [VARIANTS.get(n) for n in names]
    return VariantSpec(
        gaussian=any(s.gaussian for s in specs),
        sigmoid_code=any(s.sigmoid_code for s in specs),
        terms=tuple(t for s in specs for t in s.terms),
        corrupt=any(s.corrupt for s in specs),
        quantize=any(s.quantize for s in specs),
        classify=any(s.classify for s in specs),
    )
