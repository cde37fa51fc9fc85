"""Face-embedding backbones. Importing this package registers every built-in backbone."""

from models.backbones.highway import Highway
from models.backbones.inception import Inception
from models.backbones.iresnet import IResNet
from models.backbones.nin import NIN
from models.backbones.squeezenet import SqueezeNet
from models.backbones.vgg import VGG

__all__ = ["NIN", "VGG", "Highway", "IResNet", "Inception", "SqueezeNet"]
