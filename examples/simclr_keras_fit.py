"""SimCLR with plain Keras: build the pieces yourself and call `model.fit`.

    python examples/simclr_keras_fit.py --data=.cache/data/cifar10 --epochs=100

The same recipe as `keras-ssl train --config=simclr_cifar10` without the CLI's workdir,
resume and evaluation; the arguments shrink it for a quick look on a CPU.
"""

import argparse

import keras

from keras_ssl import augment, data, encoders, evaluation, methods, optim


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True, help="image folder with train/ and test/")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch_size", type=int, default=512)
    parser.add_argument("--width", type=float, default=1.0, help="ResNet-18 width multiplier")
    parser.add_argument("--max_examples", type=int, default=None)
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    source = f"folder:{args.data}"
    images, labels, classes = data.load_arrays(source, "train", max_examples=args.max_examples)
    views = augment.MultiViewTransform(
        [augment.SimCLRTransform(32, color_strength=0.5, blur_probability=0.0)] * 2)
    dataset = data.pretraining_dataset(None, args.batch_size, views, arrays=(images, labels))

    steps = len(images) // args.batch_size * args.epochs
    schedule = optim.WarmupCosineDecay(optim.scale_learning_rate(1.0, args.batch_size), steps,
                                       warmup_steps=steps // 10)
    encoder = encoders.ResNet18(stem="cifar", width_multiplier=args.width, input_shape=(32, 32, 3))
    model = methods.SimCLR(encoder, temperature=0.5)
    model.compile(optimizer=optim.LARS(schedule, weight_decay=1e-6))
    model.fit(dataset, epochs=args.epochs)

    test_images, test_labels, _ = data.load_arrays(source, "test", max_examples=args.max_examples)
    accuracy = evaluation.knn_accuracy(
        evaluation.extract_features(model.encoder, images), labels,
        evaluation.extract_features(model.encoder, test_images), test_labels, len(classes),
        k=min(200, len(images)))
    print(f"kNN top-1 on the test split: {accuracy:.4f}")


if __name__ == "__main__":
    main()
