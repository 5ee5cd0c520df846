/* The installed libvgg C API (include/vgg.h); its directory comes from `pkg-config --cflags vgg`. */
#include <vgg.h>
