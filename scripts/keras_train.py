"""Trains a spec's model with Keras' own fit, as a Keras user would: the same
layers and arguments, the same optimizer and loss, `validation_split` as Keras
takes it (the last samples), seeded with `keras.utils.set_random_seed`.

    keras_train.py CONFIG --data DIR [--seed N] [--epochs N]

Prints one JSON object with the test accuracy and loss and the seconds per epoch:
Keras' figures on the same files, for the README's results table.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_reference import load_idx  # noqa: E402
from keras_from_checkpoint import build  # noqa: E402


def compiled(spec):
    """The spec's model built and compiled in Keras: its layers, optimizer (a
    schedule as Keras' own class of the same name and arguments) and loss."""
    import keras

    spec.setdefault("input_shape", [28, 28])
    model = build(spec)
    optimizer = spec.get("optimizer", "rmsprop")
    if isinstance(optimizer, dict):
        config = {k: v for k, v in optimizer.items() if k != "type"}
        rate = config.get("learning_rate")
        if isinstance(rate, dict):
            if rate["type"] == "one_cycle":
                raise SystemExit("error: Keras has no one_cycle schedule")
            name = "".join(part.capitalize() for part in rate["type"].split("_"))
            config["learning_rate"] = getattr(keras.optimizers.schedules, name)(**{k: v for k, v in rate.items() if k != "type"})
        optimizer = keras.optimizers.get({"class_name": optimizer["type"], "config": config})
    loss = spec["loss"]
    if isinstance(loss, dict):  # {"type": "categorical_crossentropy", "label_smoothing": 0.1}
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=loss.get("label_smoothing", 0.0))
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    return model


def spec_data(spec, directory):
    """The training and test images scaled to [0, 1] in the spec's input shape, and
    their labels, one-hot where the loss is categorical cross-entropy."""
    import keras

    loss_name = spec["loss"]["type"] if isinstance(spec["loss"], dict) else spec["loss"]
    shape = (-1,) + tuple(spec["input_shape"])
    images, labels = load_idx(directory, "train")
    test_images, test_labels = load_idx(directory, "t10k")
    x, x_test = images.reshape(shape).astype("float32") / 255, test_images.reshape(shape).astype("float32") / 255
    one_hot = loss_name == "categorical_crossentropy"
    y = keras.utils.to_categorical(labels, 10) if one_hot else labels
    y_test = keras.utils.to_categorical(test_labels, 10) if one_hot else test_labels
    return x, y, x_test, y_test


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("--data", required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--epochs", type=int)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    with open(args.config) as f:
        spec = json.load(f)
    keras.utils.set_random_seed(args.seed)
    model = compiled(spec)
    x, y, x_test, y_test = spec_data(spec, args.data)
    epochs = args.epochs or spec.get("epochs", 1)
    start = time.perf_counter()
    model.fit(x, y, batch_size=spec.get("batch_size", 32), epochs=epochs, validation_split=spec.get("validation_split", 0.0),
              shuffle=spec.get("shuffle", True), verbose=0)
    seconds = (time.perf_counter() - start) / epochs
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(json.dumps({"config": spec.get("name"), "seed": args.seed, "test_accuracy": round(float(accuracy), 4),
                      "test_loss": round(float(loss), 4), "seconds_per_epoch": round(seconds, 2)}))


if __name__ == "__main__":
    main()
