"""Self-supervised losses, one file each."""

from keras_ssl.losses.amdim import amdim_loss
from keras_ssl.losses.barlow_twins import barlow_twins_loss
from keras_ssl.losses.byol import byol_loss
from keras_ssl.losses.collapse import embedding_std
from keras_ssl.losses.dense import (discriminator_loss, generator_adversarial_loss, masked_l2,
                                    soft_cross_entropy)
from keras_ssl.losses.info_nce import batch_info_nce, info_nce
from keras_ssl.losses.mocov3 import mocov3_loss
from keras_ssl.losses.nnclr import nearest_neighbours, nnclr_loss
from keras_ssl.losses.nt_xent import nt_xent
from keras_ssl.losses.simsiam import negative_cosine
from keras_ssl.losses.vicreg import vicreg_loss

__all__ = ["amdim_loss", "barlow_twins_loss", "batch_info_nce", "byol_loss", "discriminator_loss",
           "embedding_std", "generator_adversarial_loss", "info_nce", "masked_l2", "mocov3_loss",
           "negative_cosine", "nearest_neighbours", "nnclr_loss", "nt_xent", "soft_cross_entropy",
           "vicreg_loss"]
