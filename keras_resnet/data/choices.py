"""Choice lists of the data and augmentation layer, written once.

Keras-free, so the training config and the CLI (whose ``--help`` must not
import Keras) list the same choices as ``keras_resnet.augment``.
"""

from __future__ import annotations

# Device-side augmentation of ``keras_resnet.augment.build_augmentation``:
# "standard" is pad-and-crop + horizontal flip (He et al. 2016), "none" is off.
AUGMENTS = ("standard", "none")
