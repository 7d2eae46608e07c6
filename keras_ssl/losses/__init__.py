"""Self-supervised losses, one file each."""

from keras_ssl.losses.byol import byol_loss
from keras_ssl.losses.info_nce import info_nce
from keras_ssl.losses.nt_xent import nt_xent

__all__ = ["byol_loss", "info_nce", "nt_xent"]
