/* An open → session → forward → free → close loop for valgrind's leak checker: every
 * iteration must release what it took, so "definitely lost" stays 0.
 * Usage: leak_loop MODEL.vgg [ITERATIONS] */
#include <vgg.h>

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int iterations = argc > 2 ? atoi(argv[2]) : 20;
    static float input[2 * 3 * 40 * 36];
    for (size_t i = 0; i < sizeof input / sizeof *input; i++) input[i] = (float)(i % 97) - 48.0f;
    for (int i = 0; i < iterations; i++) {
        vgg_model *m = NULL;
        vgg_session *s = NULL;
        if (vgg_model_open(argv[1], i % 2 ? VGG_OPEN_VERIFY_CHECKSUMS : 0, &m) != VGG_OK) return 1;
        if (vgg_session_create(m, &s) != VGG_OK) return 1;
        vgg_session_set_option(s, VGG_OPTION_THREADS, 1 + i % 3);
        int64_t shape[3];
        vgg_model_output_shape(m, NULL, 40, 36, shape);
        size_t n = (size_t)(2 * shape[0] * shape[1] * shape[2]);
        float *out = malloc(n * sizeof(float));
        if (vgg_session_forward(s, input, 2, 40, 36, out, n) != VGG_OK) return 1;
        /* An error path too: its message is kept per thread, not leaked. */
        vgg_session_forward(s, input, 2, 4, 4, out, n);
        const char *names[1] = {"pool2"};
        float *feature = malloc(2 * 16 * 10 * 9 * sizeof(float));
        size_t cap = 2 * 16 * 10 * 9;
        vgg_session_features(s, input, 2, 40, 36, names, 1, &feature, &cap);
        free(feature);
        free(out);
        vgg_session_free(s);
        vgg_model_close(m);
    }
    puts("leak loop done");
    return 0;
}
