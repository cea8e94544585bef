"""Writes the Keras model JSON fixtures of the Keras-import tests
(Tests/KerasFixtures/): models built and compiled in Keras 3, saved with
`model.to_json()`, and `params.json` with each model's `count_params()`.

    KERAS_BACKEND=jax python3 scripts/make_keras_fixtures.py [DIR]
"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
import keras  # noqa: E402

L = keras.layers


def sequential_cnn():
    """keras-io's "Simple MNIST convnet", compiled as the example does."""
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        L.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        L.MaxPooling2D(pool_size=(2, 2)),
        L.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        L.MaxPooling2D(pool_size=(2, 2)),
        L.Flatten(),
        L.Dropout(0.5),
        L.Dense(10, activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def functional_residual():
    """A residual block and a two-branch concatenate, with augmentation, the
    normalizations and activation layers, under AdamW and a cosine schedule."""
    inputs = keras.Input(shape=(28, 28, 1))
    x = L.RandomFlip("horizontal")(inputs)
    x = L.Conv2D(8, 3, padding="same", use_bias=False, kernel_regularizer=keras.regularizers.L2(0.0))(x)
    x = L.BatchNormalization()(x)
    stem = L.ReLU()(x)
    y = L.Conv2D(8, 3, padding="same", kernel_initializer="he_uniform")(stem)
    y = L.BatchNormalization()(y)
    y = L.Add()([y, stem])
    y = L.Activation("relu")(y)
    y = L.MaxPooling2D()(y)
    left = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(y)
    right = L.SeparableConv2D(8, 3, padding="same", activation="gelu")(y)
    z = L.Concatenate()([left, right])
    z = L.LayerNormalization()(z)
    z = L.LeakyReLU(negative_slope=0.2)(z)
    z = L.GlobalAveragePooling2D()(z)
    z = L.Dropout(0.2)(z)
    outputs = L.Dense(10, activation="softmax")(z)
    model = keras.Model(inputs, outputs)
    schedule = keras.optimizers.schedules.CosineDecay(0.0002, decay_steps=1000, warmup_target=0.004, warmup_steps=100)
    model.compile(optimizer=keras.optimizers.AdamW(schedule),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1), metrics=["accuracy"])
    return model


def regularized():
    """What cannot be honoured: an L2 penalty on a kernel."""
    model = keras.Sequential([keras.Input(shape=(28, 28)), L.Flatten(),
                              L.Dense(10, activation="softmax", kernel_regularizer=keras.regularizers.L2(0.01))])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="rmsprop")
    return model


def shared_layer():
    """A layer called twice (shared weights)."""
    inputs = keras.Input(shape=(28, 28, 1))
    conv = L.Conv2D(1, 3, padding="same")
    x = conv(conv(inputs))
    outputs = L.Dense(10, activation="softmax")(L.Flatten()(x))
    model = keras.Model(inputs, outputs)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    return model


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "Tests", "KerasFixtures")
    params = {}
    for name, make in [("sequential-cnn", sequential_cnn), ("functional-residual", functional_residual),
                       ("regularized", regularized), ("shared-layer", shared_layer)]:
        keras.utils.set_random_seed(1)
        model = make()
        with open(os.path.join(directory, name + ".json"), "w") as f:
            f.write(model.to_json() + "\n")
        params[name] = model.count_params()
    with open(os.path.join(directory, "params.json"), "w") as f:
        f.write(json.dumps(params, indent=1) + "\n")


if __name__ == "__main__":
    main()
