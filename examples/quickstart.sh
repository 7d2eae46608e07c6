#!/usr/bin/env bash
# SimCLR on the 50,000 CIFAR-10 training images on a CPU: pretrain (the quickstart_simclr recipe, about
# 8 minutes on 2 cores), evaluate (kNN, linear probe, random-init kNN), export, print the metrics.
# Uses ../shared/data/cifar10-jpg.tar.gz when present (unpacked once into .cache/), else TFDS.
set -euo pipefail
cd "$(dirname "$0")/.."
workdir=${WORKDIR:-runs/quickstart}
archive=../shared/data/cifar10-jpg.tar.gz
if [ -f "$archive" ]; then
  python -c "from keras_ssl.data import unpack_image_folder as u; u('$archive', '.cache/data/cifar10')"
  source_args=(--config.data.source=folder:.cache/data/cifar10)
else
  source_args=(--config.data.source=tfds:cifar10 --config.data.tfds_download=True)
fi
keras-ssl train --config=quickstart_simclr --workdir="$workdir" "${source_args[@]}" "$@"
keras-ssl eval --workdir="$workdir"
keras-ssl export --workdir="$workdir" --overwrite
cat "$workdir/metrics.json"
