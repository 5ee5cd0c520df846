print("vgg-convert")
