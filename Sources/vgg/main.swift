print("vgg")
