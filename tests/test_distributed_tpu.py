"""What a TPU needs, checked without one: SimCLR's and RotNet's train steps, traced on the
per-replica batch spec of the CLI's input pipeline, have static shapes throughout, run no host-side
Python, and compile with XLA (`jit_compile=True`, as TPUStrategy compiles them) to the same result as
without XLA."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl import augment
from keras_ssl.data import pretraining_dataset
from keras_ssl.encoders import ResNet18
from keras_ssl.methods import RotNet, SimCLR

SIZE = 16
N = 32


def _setup(method):
    keras.utils.set_random_seed(0)
    encoder = ResNet18(stem="cifar", width_multiplier=0.125, input_shape=(SIZE, SIZE, 3))
    if method == "simclr":
        model = SimCLR(encoder, projection_hidden_dims=(16,), projection_dim=8)
        transform = augment.MultiViewTransform([augment.SimCLRTransform(SIZE)] * 2)
    else:
        model = RotNet(encoder)
        transform = augment.RotationTransform(augment.PaddedCropFlipTransform())
    model.build((None, SIZE, SIZE, 3))
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    model.optimizer.build(model.trainable_variables)
    images = np.random.default_rng(0).integers(0, 255, (N, SIZE, SIZE, 3), dtype=np.uint8)
    # 2 of 4 replicas' pipeline, as a TPU host would build it.
    dataset = pretraining_dataset(None, 16, transform, arrays=(images, np.zeros(N, int)),
                                  input_context=tf.distribute.InputContext(2, 0, 4))
    return model, dataset


@pytest.mark.parametrize("method", ["simclr", "rotnet"])
def test_train_step_has_static_shapes_and_no_python(method):
    model, dataset = _setup(method)
    assert all(spec.shape.is_fully_defined() for spec in tf.nest.flatten(dataset.element_spec))
    graph = tf.function(model.train_step).get_concrete_function(dataset.element_spec).graph
    # FusedBatchNormV3's reserve_space_3 is an opaque kernel workspace, not data (XLA sizes it);
    # so are the tensors made from it alone (its zero gradient).
    workspace = set()
    for op in graph.get_operations():
        if op.type == "FusedBatchNormV3":
            workspace.add(op.outputs[5].ref())
        elif op.inputs and all(t.ref() in workspace for t in op.inputs):
            workspace.update(t.ref() for t in op.outputs)
    dynamic = [(op.name, t.shape) for op in graph.get_operations() for t in op.outputs
               if t.dtype not in (tf.resource, tf.variant) and not t.shape.is_fully_defined()
               and t.ref() not in workspace]
    assert not dynamic, dynamic[:5]
    assert not {op.type for op in graph.get_operations()} & {"PyFunc", "EagerPyFunc"}


def test_train_step_compiles_with_xla_to_the_same_step():
    model, dataset = _setup("simclr")
    batch = next(iter(dataset))
    start = [v.numpy() for v in model.variables]
    optimizer_start = [v.numpy() for v in model.optimizer.variables]
    plain = tf.function(model.train_step)(batch)
    after_plain = [v.numpy() for v in model.variables]
    for variable, value in zip(model.variables + model.optimizer.variables,
                               start + optimizer_start):
        variable.assign(value)
    model.reset_metrics()
    compiled = tf.function(model.train_step, jit_compile=True)(batch)
    assert abs(float(compiled["loss"]) - float(plain["loss"])) < 1e-4
    difference = max(np.abs(a - v.numpy()).max() for a, v in zip(after_plain, model.variables))
    assert difference < 1e-4
