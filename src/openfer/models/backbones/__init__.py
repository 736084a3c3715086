"""Backbone networks shared by the FER architectures (torchvision-compatible layouts)."""
