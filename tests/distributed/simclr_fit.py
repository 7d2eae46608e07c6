"""Train a tiny SimCLR for a few steps with `model.fit` on N logical CPU devices; save losses and weights.

    python simclr_fit.py --devices 2 --sync-bn 1 --init init.weights.h5 --out result.npz

With `--write-init` the (one-device) run saves its initial weights to `--init`; otherwise it loads
them, so every run starts from the same weights. The output holds `loss` (the running mean that
`fit` logs after each step) and `w0, w1, ...` (all model weights after training, in `paths` order).
"""

import argparse

from common import setup

STEPS = 3
GLOBAL_BATCH = 8
IMAGE_SHAPE = (16, 16, 3)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, required=True)
    parser.add_argument("--sync-bn", type=int, choices=(0, 1), required=True)
    parser.add_argument("--init", required=True)
    parser.add_argument("--write-init", action="store_true")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    strategy = setup(args.devices)

    import keras
    import numpy as np
    import tensorflow as tf

    from keras_ssl.encoders import ResNet18
    from keras_ssl.methods import SimCLR

    rng = np.random.default_rng(0)
    view1, view2 = rng.random((2, STEPS * GLOBAL_BATCH, *IMAGE_SHAPE), dtype=np.float32)
    dataset = tf.data.Dataset.from_tensor_slices((view1, view2)).batch(
        GLOBAL_BATCH, drop_remainder=True)

    sync = bool(args.sync_bn)
    with strategy.scope():
        encoder = ResNet18(stem="cifar", width_multiplier=0.125, input_shape=IMAGE_SHAPE,
                           synchronized_bn=sync)
        model = SimCLR(encoder, synchronized_bn=sync, projection_hidden_dims=(32,),
                       projection_dim=16)
        model.build_from_batch((view1[:GLOBAL_BATCH], view2[:GLOBAL_BATCH]))
        if args.write_init:
            model.save_weights(args.init)
        else:
            model.load_weights(args.init)
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), jit_compile=False)

    losses = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: losses.append(float(logs["loss"])))
    model.fit(dataset, epochs=1, verbose=0, callbacks=[record])
    if len(losses) != STEPS:
        raise RuntimeError(f"expected {STEPS} steps, fit ran {len(losses)}")

    weights = {f"w{i}": np.asarray(v) for i, v in enumerate(model.weights)}
    np.savez(args.out, loss=np.array(losses), paths=np.array([v.path for v in model.weights]),
             **weights)


if __name__ == "__main__":
    main()
