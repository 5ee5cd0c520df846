#!/usr/bin/env python3
"""Writes Tests/fixtures/keras/: a tiny VGG-shaped model saved by a real Keras release, and the
outputs Keras itself computes on a fixed input. The files are committed; this script documents
how they were made (it needs `pip install keras jax h5py`; not run by the tests).

  tiny_vgg.h5                 model.save() legacy full-model HDF5 (model_weights + model_config)
  tiny_vgg.weights.h5         model.save_weights() Keras 3 layout (layers/conv2d/vars/0, ...)
  tiny_vgg_legacy_weights.h5  Keras's own legacy weights writer (layer_names, weight_names)
  tiny_vgg_expected.npz       input (N,H,W,C), predictions, block3_pool and fc2 outputs, versions
"""
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402
from keras.src.legacy.saving import legacy_h5_format  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "Tests" / "fixtures" / "keras"


def build():
    keras.utils.set_random_seed(7)
    inp = keras.Input((32, 32, 3), name="input_1")
    x = inp
    for b, convs in enumerate([[8], [16, 16], [16]], start=1):
        for i, filters in enumerate(convs, start=1):
            x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"block{b}_conv{i}",
                              bias_initializer=keras.initializers.RandomNormal(stddev=0.1))(x)
        x = layers.MaxPooling2D(2, 2, name=f"block{b}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(32, activation="relu", name="fc1", bias_initializer=keras.initializers.RandomNormal(stddev=0.1))(x)
    x = layers.Dense(32, activation="relu", name="fc2", bias_initializer=keras.initializers.RandomNormal(stddev=0.1))(x)
    x = layers.Dense(10, activation="softmax", name="predictions")(x)
    return keras.Model(inp, x, name="tiny_vgg")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    model = build()
    model.save(OUT / "tiny_vgg.h5")
    model.save_weights(OUT / "tiny_vgg.weights.h5")
    with h5py.File(OUT / "tiny_vgg_legacy_weights.h5", "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    x = (np.random.default_rng(11).standard_normal((2, 32, 32, 3)) * 40).astype(np.float32)
    probe = keras.Model(model.input, [model.output, model.get_layer("block3_pool").output, model.get_layer("fc2").output])
    predictions, pool, fc2 = (np.asarray(a) for a in probe.predict(x, verbose=0))
    np.savez(OUT / "tiny_vgg_expected.npz", input=x, predictions=predictions, block3_pool=pool, fc2=fc2,
             keras_version=keras.__version__, backend=keras.backend.backend())
    print(f"wrote {OUT} with Keras {keras.__version__} ({keras.backend.backend()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
