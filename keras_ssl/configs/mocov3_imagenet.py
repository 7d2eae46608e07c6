"""MoCo v3 with a ResNet-50 on ImageNet, the authors' 100-epoch reference setup (moco-v3 CONFIG.md,
"ResNet-50, 100-epoch pre-training": `main_moco.py --moco-m-cos --crop-min=.2`, with the script's
defaults): batch 4096, LARS at 0.6 x batch / 256 (9.6) with 10 warm-up epochs then cosine decay,
weight decay 1e-6, biases and batch norm excluded from weight decay and LARS adaptation (their
`moco/optimizer.py`); projector 2048 - 4096 - 256 with batch norm on its output, predictor
256 - 4096 - 256; temperature 1.0; momentum 0.99 -> 1 on a cosine; synchronized batch norm
(`SyncBatchNorm`); BYOL's asymmetric augmentation with crops of 20-100%.

The 300- and 1000-epoch setups of CONFIG.md change `--config.train.base_learning_rate=0.3`
(and for 1000 epochs `--config.train.weight_decay=1.5e-6 --config.model.base_momentum=0.996`).

    keras-ssl train --config=mocov3_imagenet --workdir=runs/mocov3_imagenet \
        --strategy=tpu --tpu=NAME --config.data.tfds_data_dir=gs://bucket/tensorflow_datasets
"""

from keras_ssl.configs.common import imagenet_resnet50


def get_config():
    # The model and augment sections are the registered defaults (keras_ssl/methods/mocov3.py)
    # but for the crop (CONFIG.md: --crop-min=.2).
    c = imagenet_resnet50("mocov3")
    c.augment.crop_scale = (0.2, 1.0)
    c.train.batch_size = 4096
    c.train.epochs = 100
    c.train.optimizer = "lars"
    c.train.base_learning_rate = 0.6
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 10.0
    c.train.momentum = 0.9
    c.train.weight_decay = 1e-6
    return c
