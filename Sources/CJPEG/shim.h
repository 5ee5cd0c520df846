/* libjpeg-turbo (Debian's libjpeg62-turbo-dev). */
#include <stdio.h>
#include <jpeglib.h>
