"""The package version: the libvgg version it was written for (include/vgg.h VGG_VERSION_STRING)."""
__version__ = "0.1.0"
