"""Face data sources and the aligned-face cache that training reads."""

from training.data.sources import Sample, att_faces, celeba_identity_set, image_folder, lfw_people

__all__ = ["Sample", "att_faces", "celeba_identity_set", "image_folder", "lfw_people"]
