"""Self-supervised losses, one file each."""

from keras_ssl.losses.nt_xent import nt_xent

__all__ = ["nt_xent"]
