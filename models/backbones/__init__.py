"""Face-embedding backbones. Importing this package registers every built-in backbone."""

from models.backbones.iresnet import IResNet

__all__ = ["IResNet"]
