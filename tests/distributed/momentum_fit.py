"""MoCo v2, BYOL, MoCo v3 or NNCLR trained 3 steps with `model.fit` on N logical CPU devices; shuffle
BN on its own.

    python momentum_fit.py --method moco --devices 2 --out result.npz

One global batch of 8 per step. MoCo: shuffle BN, with `bn_splits` = 2 / N, so the one-device run
normalises over the same two groups of 4 that the two replicas do; queue of 12 (the third step wraps
around). BYOL, MoCo v3 and NNCLR: synchronized batch norm (encoder and heads); NNCLR's support
set holds 12 embeddings (the second step wraps around). The output holds, prefixed by the method:

- `loss`: what `fit` logs after each step (MoCo v2: running means, step 1 alone, then steps 2-3;
  the others: one `fit` a step, so each step's own loss);
- `paths`, `initial<i>`, `final<i>`: every model weight before and after training;
- `replica<r>_target<i>`: replica r's copy of the i-th weight of the momentum network (trainable
  weights only: BN moving statistics are per replica without synchronized BN, as in Keras);
- NNCLR: `replica<r>_support<i>`, replica r's support set after step i (1 to 3);
- MoCo only: `replica<r>_queue1` / `replica<r>_queue3` and `..._pointer1` / `3`: replica r's queue
  after step 1 and after step 3; with one device also `manual_keys1`, the step-1 keys computed
  directly: the key network on each group of the permuted batch, put back in order.

With MoCo on several devices, `shuffle_*` record `shuffled_apply` on a global batch of 8 [x,
replica id, x - group mean] as seen by each replica, with the permutation it used.
"""

from common import fit_argument_parser, setup

import keras
import numpy as np
import tensorflow as tf

from keras_ssl.distribute import replica_id, shuffled_apply
from keras_ssl.encoders import ResNet18
from keras_ssl.methods import BYOL, NNCLR, MoCoV2, MoCoV3

GLOBAL_BATCH = 8
STEPS = 3
IMAGE_SHAPE = (16, 16, 3)
SHUFFLE_SEED = (5, 1)


def dataset():
    rng = np.random.default_rng(0)
    view1, view2 = rng.random((2, STEPS * GLOBAL_BATCH, *IMAGE_SHAPE), dtype=np.float32)
    return (view1, view2), tf.data.Dataset.from_tensor_slices((view1, view2)).batch(
        GLOBAL_BATCH, drop_remainder=True)


def local(strategy, variable):
    return [np.asarray(v) for v in strategy.experimental_local_results(variable.value)]


def fit_steps(model, data, steps, losses):
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: losses.append(float(logs["loss"])))
    model.fit(data, epochs=1, shuffle=False, verbose=0, callbacks=[record])
    if len(losses) != steps:
        raise RuntimeError(f"expected {steps} logged steps, got {len(losses)}")


def run_moco(strategy, devices, out):
    (_, view2), data = dataset()
    with strategy.scope():
        keras.utils.set_random_seed(1)
        encoder = ResNet18(stem="cifar", width_multiplier=0.125, input_shape=IMAGE_SHAPE)
        model = MoCoV2(encoder, projection_hidden_dims=(32,), projection_dim=16, queue_size=12,
                       momentum=0.9, shuffle_bn=True, bn_splits=2 // devices)
        model.build((None, *IMAGE_SHAPE))
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), jit_compile=False)
    out["moco_paths"] = np.array([v.path for v in model.weights])
    out.update({f"moco_initial{i}": np.asarray(v) for i, v in enumerate(model.weights)})
    if devices == 1:
        # Step 1's keys, directly: the permutation of step 0, the key network (= the online
        # networks at step 0) on each group of 4, back in the original order, unit length.
        model.key_network.synchronize([model.encoder, model.projector])
        permutation = tf.random.experimental.stateless_shuffle(
            tf.range(GLOBAL_BATCH), seed=tf.constant([0, 1], tf.int64)).numpy()
        keys = np.zeros((GLOBAL_BATCH, 16), np.float32)
        for group in np.split(permutation, 2):
            keys[group] = model.key_network(view2[:GLOBAL_BATCH][group], training=True).numpy()
        out["moco_manual_keys1"] = keys / np.linalg.norm(keys, axis=1, keepdims=True)

    losses = []
    fit_steps(model, data.take(1), 1, losses)
    for r, (queue, pointer) in enumerate(zip(local(strategy, model.queue.queue),
                                            local(strategy, model.queue.pointer))):
        out[f"moco_replica{r}_queue1"], out[f"moco_replica{r}_pointer1"] = queue, pointer
    later = []
    fit_steps(model, data.skip(1), STEPS - 1, later)
    out["moco_loss"] = np.array(losses + later)
    for r, (queue, pointer) in enumerate(zip(local(strategy, model.queue.queue),
                                            local(strategy, model.queue.pointer))):
        out[f"moco_replica{r}_queue3"], out[f"moco_replica{r}_pointer3"] = queue, pointer
    out.update({f"moco_final{i}": np.asarray(v) for i, v in enumerate(model.weights)})
    for i, variable in enumerate(model.key_network.weights):
        if "moving" not in variable.path:
            for r, value in enumerate(local(strategy, variable)):
                out[f"moco_replica{r}_target{i}"] = value


# Methods whose statistics are over the global batch with synchronized batch norm: the class, its
# arguments and the momentum network to record (None: none).
SYNCHRONIZED = {
    "byol": (BYOL, dict(prediction_hidden_dims=(32,), base_momentum=0.9, total_steps=10),
             "target_network"),
    "mocov3": (MoCoV3, dict(prediction_hidden_dims=(32,), base_momentum=0.9, total_steps=10),
               "target_network"),
    "nnclr": (NNCLR, dict(prediction_hidden_dims=(32,), support_size=12, temperature=0.2), None),
}


def run_synchronized(strategy, method, out):
    _, data = dataset()
    method_class, arguments, momentum_network = SYNCHRONIZED[method]
    with strategy.scope():
        keras.utils.set_random_seed(2)
        encoder = ResNet18(stem="cifar", width_multiplier=0.125, input_shape=IMAGE_SHAPE,
                           synchronized_bn=True)
        model = method_class(encoder, projection_hidden_dims=(32,), projection_dim=16,
                             synchronized_bn=True, **arguments)
        model.build((None, *IMAGE_SHAPE))
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), jit_compile=False)
    out[f"{method}_paths"] = np.array([v.path for v in model.weights])
    out.update({f"{method}_initial{i}": np.asarray(v) for i, v in enumerate(model.weights)})
    losses = []
    for step in range(STEPS):
        fit_steps(model, data.skip(step).take(1), step + 1, losses)
        if method == "nnclr":
            for r, value in enumerate(local(strategy, model.support_set.queue)):
                out[f"nnclr_replica{r}_support{step + 1}"] = value
    out[f"{method}_loss"] = np.array(losses)
    out.update({f"{method}_final{i}": np.asarray(v) for i, v in enumerate(model.weights)})
    if momentum_network:
        for i, variable in enumerate(getattr(model, momentum_network).weights):
            if "moving" not in variable.path:
                for r, value in enumerate(local(strategy, variable)):
                    out[f"{method}_replica{r}_target{i}"] = value


def run_shuffle(strategy, out):
    x = np.random.default_rng(3).normal(size=(GLOBAL_BATCH, 3)).astype(np.float32)
    n = GLOBAL_BATCH // strategy.num_replicas_in_sync

    def probe(batch):
        rid = tf.fill([tf.shape(batch)[0], 1], tf.cast(replica_id(), tf.float32))
        centred = batch - tf.reduce_mean(batch, axis=0, keepdims=True)
        return tf.concat([batch, rid, centred], axis=1)

    def step(local_x):
        return shuffled_apply(probe, local_x, tf.constant(SHUFFLE_SEED, tf.int64))

    values = strategy.experimental_distribute_values_from_function(
        lambda ctx: x[ctx.replica_id_in_sync_group * n:][:n])
    result = tf.function(lambda v: strategy.run(step, args=(v,)))(values)
    out["shuffle_x"] = x
    out["shuffle_permutation"] = tf.random.experimental.stateless_shuffle(
        tf.range(GLOBAL_BATCH), seed=tf.constant(SHUFFLE_SEED, tf.int64)).numpy()
    for r, value in enumerate(strategy.experimental_local_results(result)):
        out[f"shuffle_replica{r}"] = value.numpy()


def main():
    parser = fit_argument_parser(init=False)
    parser.add_argument("--method", choices=("moco", *SYNCHRONIZED), required=True)
    args = parser.parse_args()
    strategy = setup(args.devices)
    out = {}
    if args.method in SYNCHRONIZED:
        run_synchronized(strategy, args.method, out)
    else:
        run_moco(strategy, args.devices, out)
        if args.devices > 1:
            run_shuffle(strategy, out)
    np.savez(args.out, **out)


if __name__ == "__main__":
    main()
