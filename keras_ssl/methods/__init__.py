"""Self-supervised methods: `keras.Model` subclasses trained by `model.fit`.

Importing this package registers every method (`keras_ssl.methods.registry`).
"""

from keras_ssl.methods import registry
from keras_ssl.methods.base import PretrainingMethod
from keras_ssl.methods.amdim import AMDIM
from keras_ssl.methods.barlow_twins import BarlowTwins
from keras_ssl.methods.byol import BYOL
from keras_ssl.methods.colorization import Colorization
from keras_ssl.methods.context_encoder import ContextEncoder
from keras_ssl.methods.context_prediction import ContextPrediction
from keras_ssl.methods.counting import Counting
from keras_ssl.methods.exemplar import Exemplar
from keras_ssl.methods.jigsaw import Jigsaw
from keras_ssl.methods.mocov2 import MoCoV2
from keras_ssl.methods.mocov3 import MoCoV3
from keras_ssl.methods.nnclr import NNCLR
from keras_ssl.methods.rotnet import RotNet
from keras_ssl.methods.simclr import SimCLR
from keras_ssl.methods.simsiam import SimSiam
from keras_ssl.methods.vicreg import VICReg

__all__ = ["AMDIM", "BYOL", "BarlowTwins", "Colorization", "ContextEncoder", "ContextPrediction",
           "Counting", "Exemplar", "Jigsaw", "MoCoV2", "MoCoV3", "NNCLR", "PretrainingMethod",
           "registry", "RotNet", "SimCLR", "SimSiam", "VICReg"]
