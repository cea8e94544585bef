"""Rebuilds an mnist-train checkpoint in Keras from the spec and tensors it
stores, and evaluates it on a dataset's test split.

    keras_from_checkpoint.py CHECKPOINT --data DIR [--probabilities FILE]

Prints one JSON object: test accuracy, loss and sample count. The spec's layer
types and arguments are Keras' own, and each tensor `<layer>_<n>.<variable>`
goes to that layer's `set_weights` in Keras' order; that is the whole mapping.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_reference import load_idx  # noqa: E402

CLASSES = {
    "dense": "Dense", "conv2d": "Conv2D", "max_pooling2d": "MaxPooling2D", "average_pooling2d": "AveragePooling2D",
    "global_average_pooling2d": "GlobalAveragePooling2D", "global_max_pooling2d": "GlobalMaxPooling2D",
    "zero_padding2d": "ZeroPadding2D", "batch_normalization": "BatchNormalization",
    "layer_normalization": "LayerNormalization",
    "dropout": "Dropout", "flatten": "Flatten", "reshape": "Reshape", "activation": "Activation",
    "random_flip": "RandomFlip", "random_translation": "RandomTranslation", "random_rotation": "RandomRotation",
    "random_zoom": "RandomZoom",
}
IMAGE_LAYERS = {"conv2d", "max_pooling2d", "average_pooling2d", "global_average_pooling2d", "global_max_pooling2d",
                "zero_padding2d"}
VARIABLES = ["kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance"]


def build(spec, tensors=None):
    """The spec's model in Keras; with `tensors`, their values set as its weights."""
    import keras

    input_shape = tuple(spec["input_shape"])
    layers = [keras.Input(shape=input_shape)]
    if len(input_shape) == 2 and spec["layers"][0]["type"] in IMAGE_LAYERS:
        layers.append(keras.layers.Reshape(input_shape + (1,)))  # (H, W) is one channel, as mnist-train reads it
    weights, counts = [], {}
    for layer_spec in spec["layers"]:
        kind = layer_spec["type"]
        arguments = {key: value for key, value in layer_spec.items() if key != "type"}
        if kind not in CLASSES:  # the shorthand {"type": "relu"}
            kind, arguments = "activation", {"activation": kind}
        layer = getattr(keras.layers, CLASSES[kind])(**arguments)
        counts[kind] = counts.get(kind, 0) + 1
        prefix = f"{kind}_{counts[kind]}."
        weights.append((layer, [tensors[prefix + v] for v in VARIABLES if prefix + v in tensors] if tensors else []))
        layers.append(layer)
    model = keras.Sequential(layers)
    for layer, values in weights:
        if values:
            layer.set_weights(values)
    return model


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint")
    parser.add_argument("--data", required=True)
    parser.add_argument("--probabilities", help="also write the test probabilities (.npy)")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    from safetensors import safe_open

    with safe_open(args.checkpoint, framework="numpy") as f:
        spec = json.loads(f.metadata()["spec"])
        tensors = {name: f.get_tensor(name) for name in f.keys() if not name.startswith("optimizer.")}
    model = build(spec, tensors)
    images, labels = load_idx(args.data, "t10k")
    x = images.reshape((len(images),) + tuple(spec["input_shape"])).astype("float32") / 255
    probabilities = np.asarray(model.predict(x, batch_size=500, verbose=0))
    picked = np.clip(probabilities[np.arange(len(labels)), labels], 1e-7, 1 - 1e-7)
    if args.probabilities:
        np.save(args.probabilities, probabilities)
    print(json.dumps({"accuracy": float((probabilities.argmax(axis=1) == labels).mean()),
                      "loss": float(-np.log(picked).mean()), "samples": int(len(labels))}))


if __name__ == "__main__":
    main()
