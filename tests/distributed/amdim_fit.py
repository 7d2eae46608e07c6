"""Train a tiny AMDIM 3 steps with `model.fit` on N logical CPU devices; save losses and weights.

    python amdim_fit.py --devices 2 --init init.weights.h5 --out result.npz [--local-negatives]

`--devices 1` runs without a strategy (the one-device reference on the global batch); `--write-init`
saves the initial weights every other run loads. Batch norm is synchronized (encoder and heads), so
only the NCE's negatives can differ between runs. `--local-negatives` builds the model with
gather_negatives=False, the deliberate bug the test must catch. Output: `loss` (fit's running mean
after each step), `paths`, `initial<i>` / `final<i>` (every weight before and after training).
"""

from common import fit_and_save, fit_argument_parser, load_or_write_init, setup

import keras
import numpy as np
import tensorflow as tf

from keras_ssl.encoders import AMDIMEncoder
from keras_ssl.methods import AMDIM

STEPS = 3
GLOBAL_BATCH = 8
IMAGE_SHAPE = (32, 32, 3)


def main():
    parser = fit_argument_parser()
    parser.add_argument("--local-negatives", action="store_true")
    args = parser.parse_args()
    strategy = setup(args.devices)

    rng = np.random.default_rng(0)
    view1, view2 = rng.random((2, STEPS * GLOBAL_BATCH, *IMAGE_SHAPE), dtype=np.float32)
    dataset = tf.data.Dataset.from_tensor_slices((view1, view2)).batch(
        GLOBAL_BATCH, drop_remainder=True)

    with strategy.scope():
        encoder = AMDIMEncoder(ndf=4, n_rkhs=32, n_depth=1, use_bn=True, synchronized_bn=True,
                               input_shape=IMAGE_SHAPE)
        model = AMDIM(encoder, hidden_bn=True, synchronized_bn=True,
                      gather_negatives=not args.local_negatives)
        model.build((None, *IMAGE_SHAPE))
        load_or_write_init(model, args.init, args.write_init)
        model.compile(optimizer=keras.optimizers.SGD(1e-3, momentum=0.9), jit_compile=False)

    fit_and_save(model, dataset, args.out, STEPS)


if __name__ == "__main__":
    main()
