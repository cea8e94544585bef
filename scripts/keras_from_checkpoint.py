"""Rebuilds an mnist-train checkpoint in Keras from the spec and tensors it
stores, and evaluates it on a dataset's test split.

    keras_from_checkpoint.py CHECKPOINT --data DIR [--probabilities FILE]
    keras_from_checkpoint.py MODEL.keras --data DIR [--probabilities FILE]

A `.keras` file (what `mnist-export --keras` writes) is opened with Keras' own
`keras.saving.load_model` instead, and evaluated the same way.

Prints one JSON object: test accuracy, loss and sample count. The spec's layer
types and arguments are Keras' own, each layer reads the layers its `inputs`
name (default: the previous one) through Keras' functional API, and each tensor
`<layer name>.<variable>` goes to that layer's `set_weights` in Keras' order;
that is the whole mapping.
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
    "random_zoom": "RandomZoom", "random_erasing": "RandomErasing",
    "add": "Add", "subtract": "Subtract", "multiply": "Multiply", "average": "Average", "maximum": "Maximum",
    "minimum": "Minimum", "concatenate": "Concatenate", "depthwise_conv2d": "DepthwiseConv2D",
    "separable_conv2d": "SeparableConv2D",
}
IMAGE_LAYERS = {"conv2d", "max_pooling2d", "average_pooling2d", "global_average_pooling2d", "global_max_pooling2d",
                "zero_padding2d", "depthwise_conv2d", "separable_conv2d"}
VARIABLES = ["kernel", "depthwise_kernel", "pointwise_kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance"]


def build(spec, tensors=None):
    """The spec's model in Keras; with `tensors`, their values set as its weights."""
    import keras

    input_shape = tuple(spec["input_shape"])
    inputs = keras.Input(shape=input_shape)
    values = {"input": inputs}
    weights, counts, previous = [], {}, "input"
    for layer_spec in spec["layers"]:
        kind = layer_spec["type"]
        arguments = {key: value for key, value in layer_spec.items() if key not in ("type", "name", "inputs")}
        if kind not in CLASSES:  # the shorthand {"type": "relu"}
            kind, arguments = "activation", {"activation": kind}
        counts[kind] = counts.get(kind, 0) + 1
        name = layer_spec.get("name", f"{kind}_{counts[kind]}")
        layer = getattr(keras.layers, CLASSES[kind])(name=name, **arguments)
        operands = [values[input_name] for input_name in layer_spec.get("inputs", [previous])]
        if kind in IMAGE_LAYERS and len(operands[0].shape) == 3:
            operands = [keras.layers.Reshape(tuple(operands[0].shape[1:]) + (1,))(operands[0])]  # (H, W) is one channel
        values[name] = layer(operands if len(operands) > 1 else operands[0])
        weights.append((layer, [tensors[f"{name}.{v}"] for v in VARIABLES if f"{name}.{v}" in tensors] if tensors else []))
        previous = name
    model = keras.Model(inputs, values[previous])
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

    if args.checkpoint.endswith(".keras"):
        import keras
        model = keras.saving.load_model(args.checkpoint)
        input_shape = tuple(model.input_shape[1:])
    else:
        with safe_open(args.checkpoint, framework="numpy") as f:
            spec = json.loads(f.metadata()["spec"])
            tensors = {name: f.get_tensor(name) for name in f.keys() if not name.startswith("optimizer.")}
        model = build(spec, tensors)
        input_shape = tuple(spec["input_shape"])
    images, labels = load_idx(args.data, "t10k")
    x = images.reshape((len(images),) + input_shape).astype("float32") / 255
    probabilities = np.asarray(model.predict(x, batch_size=500, verbose=0))
    picked = np.clip(probabilities[np.arange(len(labels)), labels], 1e-7, 1 - 1e-7)
    if args.probabilities:
        np.save(args.probabilities, probabilities)
    print(json.dumps({"accuracy": float((probabilities.argmax(axis=1) == labels).mean()),
                      "loss": float(-np.log(picked).mean()), "samples": int(len(labels))}))


if __name__ == "__main__":
    main()
