"""Backbone networks shared by the FER architectures, in their upstream key layouts (torchvision ResNet,
the ConvNeXt release, Keras MobileNet)."""

from openfer.models.backbones import convnext, mobilenet  # noqa: F401,E402
