"""The protocol registry (`keras_ssl.evaluation.protocols`): every protocol registered runs and
has its headline numbers, --protocol names come from it, and metrics.json keeps the top-level
keys of earlier versions."""

import json

import keras
import numpy as np
import pytest

from helpers import run_cli
from keras_ssl.cli.config import data_config, eval_config
from keras_ssl.cli.evaluate import EvalOptions
from keras_ssl.data import LabelledData
from keras_ssl.evaluation import ProtocolError, protocols

# metrics.json of `keras-ssl eval` with knn, linear and the random-init kNN (runs/qs_1207 of
# 2026-12-07, written before the registry): the README and earlier runs read these keys.
METRICS_KEYS = ["knn_top1", "linear_top1", "linear_top5", "random_init_knn_top1", "knn",
                "linear_probe", "dataset", "encoder", "pretrained_on", "transfer", "protocols",
                "headline", "report", "output_dir"]


@pytest.fixture(scope="module")
def data():
    """40 train / 20 test 8x8 images of 2 classes, in memory."""
    rng = np.random.default_rng(0)
    splits = {split: (rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8), np.arange(n) % 2)
              for split, n in (("train", 40), ("test", 20))}
    return LabelledData(splits, ("train", "test"), (8, 8), data_config(), 1024.0)


def _encoder():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(
        keras.layers.Conv2D(4, 3)(inputs)))


def _inputs(spec, data):
    rng = np.random.default_rng(1)
    shape = (4, 4, 3) if spec.feature_maps else (6,)
    features = tuple(rng.standard_normal((len(split.labels), *shape)).astype(np.float32)
                     for split in (data.train, data.test)) if spec.frozen_features else None
    ev = eval_config()
    ev.linear_epochs = 1
    options = EvalOptions(finetune_epochs=1, semi_epochs=1, semi_fractions=(0.5,), map_epochs=1,
                          finetune_batch_size=8)
    return dict(data=data, features=features, loader=_encoder, ev=ev, seed=0, options=options)


@pytest.mark.parametrize("name", protocols.names())
def test_every_protocol_runs_and_has_headline_numbers(data, name):
    spec = protocols.get(name)
    result = spec.run(**_inputs(spec, data))
    headline = spec.headline(result)
    assert headline and all(-1.0 <= v <= 1.0 for v in headline.values()), headline  # ARI >= -1
    settings = spec.report_settings(result)
    assert settings and "protocol" not in settings
    # No score among the settings: every headline number is a score.
    flat = {k for v in settings.values() if isinstance(v, dict) for k in v} | set(settings)
    assert not flat & {"top1", "nmi", "recall@1"}


def test_the_registry_holds_todays_protocols_in_their_order():
    assert protocols.names() == ["knn", "linear", "mlp", "finetune", "semi", "retrieval",
                                 "cluster", "nonlinear", "conv"]
    assert protocols.defaults() == ("knn", "linear") == EvalOptions().protocols
    assert [n for n in protocols.names() if protocols.get(n).random_init] == ["knn"]
    assert protocols.parse("all") == tuple(protocols.names(feature_maps=False))
    assert protocols.parse("conv,knn,knn") == ("conv", "knn")
    assert protocols.parse("none") == protocols.parse("") == ()
    with pytest.raises(ValueError, match="registered already"):
        protocols.register("knn", 0, None, None, "top1")


def test_an_unknown_protocol_is_refused_naming_the_registered_ones():
    result = run_cli("eval", "--encoder=/nonexistent", "--data=fashion_mnist:",
                     "--protocol=knn,bogus")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--protocol='knn,bogus' names unknown protocols ['bogus']" in result.stderr
    assert f"choose from {', '.join(protocols.names())}, or 'all'" in result.stderr


def test_a_protocol_error_names_the_fix(data):
    spec = protocols.get("semi")
    inputs = _inputs(spec, data)
    inputs["options"].semi_fractions = (2.0,)
    with pytest.raises(ProtocolError, match="fraction"):
        spec.run(**inputs)


def test_legacy_metrics_keep_their_keys_and_order():
    knn, linear = {"protocol": "knn", "top1": 0.5}, {"protocol": "linear", "top1": 0.6, "top5": 1}
    results = {"encoder": {"linear": linear, "knn": knn, "mlp": {"top1": 0.7}},
               "random_init": {"knn": {"top1": 0.2}, "linear": {"top1": 0.3, "top5": 0.9}}}
    assert list(protocols.legacy_metrics(results).items()) == [
        ("knn_top1", 0.5), ("linear_top1", 0.6), ("linear_top5", 1), ("random_init_knn_top1", 0.2),
        ("knn", knn), ("linear_probe", linear)]
    assert protocols.legacy_metrics({"encoder": {"mlp": {"top1": 0.7}}}) == {}


def test_metrics_json_keeps_the_layout_of_earlier_runs(tiny_cifar10, tmp_path):
    from keras_ssl.cli import builders
    from keras_ssl.cli.config import base_config
    from keras_ssl.cli.evaluate import evaluate
    from keras_ssl.cli.workdir import Workdir
    config = base_config("simclr")
    config.data.source = f"folder:{tiny_cifar10}"
    config.encoder.width_multiplier = 0.125
    config.eval.linear_epochs = 2
    wd = Workdir(str(tmp_path))
    wd.save_config(config)
    keras.utils.set_random_seed(0)
    builders.build_encoder(config).save(wd.encoder_path)
    evaluate(wd.path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert list(metrics) == METRICS_KEYS
    assert metrics["knn"] == metrics["protocols"]["knn"]["encoder"]
    assert metrics["linear_probe"] == metrics["protocols"]["linear"]["encoder"]
    assert metrics["random_init_knn_top1"] == metrics["protocols"]["knn"]["random_init"]["top1"]
    assert (metrics["knn_top1"], metrics["linear_top1"], metrics["linear_top5"]) == (
        metrics["knn"]["top1"], metrics["linear_probe"]["top1"], metrics["linear_probe"]["top5"])
    assert list(metrics["headline"]["trained encoder"]) == [
        "kNN top-1", "kNN majority top-1", "linear top-1", "linear top-5"]
