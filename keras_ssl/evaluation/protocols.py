"""The protocol registry: every evaluation protocol says, in its own module, what `keras-ssl eval`
needs of it.

A protocol module ends with a `register` call naming the protocol, how it runs, its numbers for
the results table, which keys of its result are scores and which top-level metrics.json keys
earlier versions wrote for it. `keras-ssl eval` finds protocols here by name (as
`keras_ssl.methods.registry` does methods), so adding a protocol touches its module only.

Every run function takes keyword arguments: ``data`` (the labelled splits,
`keras_ssl.data.LabelledData`), ``features`` (``(train, test)`` frozen features, or feature maps for
a protocol on maps; None for one that trains the encoder), ``loader`` (``() ->`` a fresh copy of
the encoder), ``ev`` (the run's `eval` config section), ``seed`` and ``options`` (the command's
`keras_ssl.cli.evaluate.EvalOptions`).

Example:
```python
from keras_ssl.evaluation import protocols

protocols.names()                  # ['knn', 'linear', 'mlp', ..., 'nonlinear', 'conv']
protocols.get("knn").headline(result)   # {'kNN top-1': ..., 'kNN majority top-1': ...}
protocols.parse("knn,linear")      # ('knn', 'linear')
```
"""

import dataclasses
import re
from typing import Callable, NamedTuple

_REGISTRY = {}


class ProtocolError(ValueError):
    """The user's settings or data do not suit a protocol (a bad subset file or label fraction):
    `keras-ssl eval` prints its message alone."""


class LegacyKeys(NamedTuple):
    """Top-level metrics.json keys that the README and earlier runs read, kept as they were.

    scores: {key: result key} of the trained encoder's result; random_init_scores: the same of
    the random-init baseline's; result: the key of the trained encoder's whole result.
    """

    scores: dict = {}
    random_init_scores: dict = {}
    result: str | None = None


@dataclasses.dataclass(frozen=True)
class ProtocolSpec:
    """What a protocol registers.

    Attributes:
        name: the `--protocol` name, e.g. "knn".
        order: its place among the protocols: in 'all', the results table and metrics.json.
        run: `run(data=, features=, loader=, ev=, seed=, options=) -> result dict` (see the module).
        headline: `headline(result) -> {column: number}`, its numbers in the results table.
        scores: a regular expression matching the keys of its result that are scores (the rest
            are its settings, which the report lists).
        frozen_features: it reads the encoder's frozen features (extracted once per encoder and
            shared by these protocols); False: it trains a copy of the encoder itself.
        feature_maps: it reads a layer's feature maps (with --layers only; not in 'all').
        default: run when no --protocol is given.
        random_init: also run on the architecture at random init when no --random_init is
            given (and a run's workdir names the architecture): the baseline to beat.
        legacy: its `LegacyKeys`.
        settings: optional `settings(result) -> dict` for a result that nests others; by default
            the result without its scores and its "protocol".
    """

    name: str
    order: int
    run: Callable
    headline: Callable
    scores: str
    frozen_features: bool = True
    feature_maps: bool = False
    default: bool = False
    random_init: bool = False
    legacy: LegacyKeys = LegacyKeys()
    settings: Callable = None

    def report_settings(self, result):
        """The protocol's settings for the report: everything but its scores."""
        if self.settings is not None:
            return self.settings(result)
        scores = re.compile(self.scores)
        return {k: v for k, v in result.items() if not scores.fullmatch(k) and k != "protocol"}


def register(name, order, run, headline, scores, **options):
    """Adds a protocol under `name` (once: a second registration of the name is refused)."""
    if name in _REGISTRY:
        raise ValueError(f"a protocol named {name!r} is registered already.")
    _REGISTRY[name] = ProtocolSpec(name, order, run, headline, scores, **options)
    return _REGISTRY[name]


def names(feature_maps=None):
    """The registered protocol names in their order; only those on feature maps (True) or those
    not (False)."""
    return [spec.name for spec in sorted(_REGISTRY.values(), key=lambda spec: spec.order)
            if feature_maps is None or spec.feature_maps == feature_maps]


def get(name):
    """The `ProtocolSpec` registered as `name`; an unknown name is refused listing the known
    ones."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown protocol {name!r}; choose from {', '.join(names())}.")
    return _REGISTRY[name]


def defaults():
    """The protocols run when none are named."""
    return tuple(name for name in names() if _REGISTRY[name].default)


def parse(text, what="--protocol"):
    """'knn,linear' -> ('knn', 'linear'); 'all' -> every protocol not on feature maps; 'none' or
    '' -> ()."""
    chosen = [n.strip() for n in (text or "").split(",") if n.strip()]
    if chosen == ["all"]:
        return tuple(names(feature_maps=False))
    if chosen == ["none"]:
        return ()
    unknown = [n for n in chosen if n not in _REGISTRY]
    if unknown:
        raise ValueError(f"{what}={text!r} names unknown protocols {unknown}; choose from "
                         f"{', '.join(names())}, or 'all'.")
    return tuple(dict.fromkeys(chosen))


def headline(results):
    """The results table's numbers of `results` ({protocol: result})."""
    return {k: v for name, result in results.items() for k, v in get(name).headline(result).items()}


def legacy_metrics(results):
    """The top-level metrics.json keys of earlier versions (`LegacyKeys`), in their order, from
    `results` ({"encoder": {protocol: result}, "random_init": {...}})."""
    specs = [get(name) for name in names()]
    encoder, random_init = results["encoder"], results.get("random_init", {})
    legacy = {}
    for row, field in ((encoder, "scores"), (random_init, "random_init_scores")):
        for spec in specs:
            if spec.name in row:
                legacy.update({key: row[spec.name][score]
                               for key, score in getattr(spec.legacy, field).items()})
    legacy.update({spec.legacy.result: encoder[spec.name] for spec in specs
                   if spec.legacy.result and spec.name in encoder})
    return legacy
