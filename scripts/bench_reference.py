"""Reference timings for `make bench-reference`, in the same run as mnist-bench
and on the same IDX files: the seed model (dense512.json) beside its Keras
program and the same math by hand in NumPy; keras-io's convnet (mnist-cnn.json)
beside that program and the same model in PyTorch; any other spec (cnn.json)
beside the same layers in Keras; and mnist-fast.json's whole process beside the
same recipe in PyTorch, seed by seed. Prints one JSON object: mnist-bench's keys
plus the references' and the ratios.

Run as `bench_reference.py --config NAME --data DIR --bench PATH`; the other
subcommands run one reference in its own process (so peak RSS is its own).
"""
import argparse
import gzip
import json
import os
import resource
import statistics
import subprocess
import sys
import time

EPOCHS = 3
BATCH = 128
CNN_SAMPLES = 54000


def load_idx(directory, split):
    import numpy as np

    def read(kind, rank):
        for name in (f"{split}-{kind}-idx{rank}-ubyte", f"{split}-{kind}.idx{rank}-ubyte"):
            for suffix in (".gz", ""):
                path = os.path.join(directory, name + suffix)
                if os.path.exists(path):
                    with open(path, "rb") as f:
                        data = f.read()
                    if data[:2] == b"\x1f\x8b":
                        data = gzip.decompress(data)
                    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(data[3])]
                    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * len(dims)).reshape(dims)
        raise SystemExit(f"error: {directory}: no {split} {kind} file")

    return read("images", 3), read("labels", 1)


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_numpy(directory):
    """The seed's model as its reader would write it with NumPy: float32 inputs
    scaled once up front, matmuls, broadcast bias, relu, softmax, p - y, RMSprop."""
    import numpy as np

    images, labels = load_idx(directory, "train")
    test_images, test_labels = load_idx(directory, "t10k")
    x = images.reshape(len(images), -1).astype(np.float32) / 255
    x_test = test_images.reshape(len(test_images), -1).astype(np.float32) / 255
    rng = np.random.default_rng(1)

    def glorot(fan_in, fan_out):
        limit = np.sqrt(6 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32)

    params = [glorot(784, 512), np.zeros(512, np.float32), glorot(512, 10), np.zeros(10, np.float32)]
    rms = [np.zeros_like(p) for p in params]
    lr, rho, eps = np.float32(0.001), np.float32(0.9), np.float32(1e-7)
    times = []
    for _ in range(EPOCHS):
        start = time.perf_counter()
        order = rng.permutation(len(x))
        for i in range(0, len(x), BATCH):
            index = order[i:i + BATCH]
            xb, yb = x[index], labels[index]
            w1, b1, w2, b2 = params
            z1 = xb @ w1 + b1
            a1 = np.maximum(z1, 0)
            z2 = a1 @ w2 + b2
            z2 -= z2.max(axis=1, keepdims=True)
            p = np.exp(z2)
            p /= p.sum(axis=1, keepdims=True)
            dz2 = p
            dz2[np.arange(len(yb)), yb] -= 1
            dz2 /= len(yb)
            da1 = dz2 @ w2.T
            da1[z1 <= 0] = 0
            grads = [xb.T @ da1, da1.sum(axis=0), a1.T @ dz2, dz2.sum(axis=0)]
            for w, g, r in zip(params, grads, rms):
                r *= rho
                r += (1 - rho) * g * g
                w -= lr * g / np.sqrt(r + eps)
        times.append(time.perf_counter() - start)
    w1, b1, w2, b2 = params
    predictions = (np.maximum(x_test @ w1 + b1, 0) @ w2 + b2).argmax(axis=1)
    return {"epoch_seconds": statistics.median(times[1:]), "test_accuracy": float((predictions == test_labels).mean()),
            "peak_rss_mb": peak_rss_mb()}


def fit_keras(model, x, y, x_test, y_test):
    """Keras' own fit, each epoch timed by a callback; then the test accuracy."""
    import keras

    times = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, verbose=0, callbacks=[Timer()])
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    return {"epoch_seconds": statistics.median(times[1:]), "test_accuracy": float(accuracy), "peak_rss_mb": peak_rss_mb()}


def run_keras(directory):
    """The seed's Keras program: Dense 512 relu, Dense 10 softmax, rmsprop, batch 128."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np

    images, labels = load_idx(directory, "train")
    test_images, test_labels = load_idx(directory, "t10k")
    x = images.reshape(len(images), -1).astype("float32") / 255
    x_test = test_images.reshape(len(test_images), -1).astype("float32") / 255
    y, y_test = keras.utils.to_categorical(labels, 10), keras.utils.to_categorical(test_labels, 10)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(512, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    return fit_keras(model, x, y, x_test, y_test)


def run_keras_cnn(directory):
    """keras-io's "Simple MNIST convnet", as published (tensors preloaded by Keras
    itself); 54,000 training samples as our validation split leaves, no validation."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    from keras import layers

    images, labels = load_idx(directory, "train")
    test_images, test_labels = load_idx(directory, "t10k")
    x = images[:CNN_SAMPLES].reshape(-1, 28, 28, 1).astype("float32") / 255
    x_test = test_images.reshape(-1, 28, 28, 1).astype("float32") / 255
    y, y_test = keras.utils.to_categorical(labels[:CNN_SAMPLES], 10), keras.utils.to_categorical(test_labels, 10)
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return fit_keras(model, x, y, x_test, y_test)


def config_path(config):
    """A config by path, or by name from the repository's configs folder (as mnist-bench finds it)."""
    if os.path.exists(config):
        return config
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", config)


def run_keras_spec(directory, config):
    """Any spec's layers, optimizer and loss in Keras (keras_train.py's model),
    trained by Keras' fit on all the training images: for cnn.json, the Fashion
    stack with batch normalization, against which keras-io has no program."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    from keras_train import compiled, spec_data

    with open(config_path(config)) as f:
        spec = json.load(f)
    keras.utils.set_random_seed(1)
    model = compiled(spec)
    x, y, x_test, y_test = spec_data(spec, directory)
    if spec.get("batch_size", 32) != BATCH:
        raise SystemExit(f"error: {config}: the reference times batches of {BATCH}")
    return fit_keras(model, x, y, x_test, y_test)


def run_torch_cnn(directory):
    """The same convnet in PyTorch, as a competent user writes it: tensors
    preloaded as float32 NCHW, two threads, Adam with Keras' epsilon."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(2)
    torch.manual_seed(1)
    images, labels = load_idx(directory, "train")
    test_images, test_labels = load_idx(directory, "t10k")
    x = torch.tensor(images[:CNN_SAMPLES]).float().div(255).unsqueeze(1)
    y = torch.tensor(labels[:CNN_SAMPLES]).long()
    x_test = torch.tensor(test_images).float().div(255).unsqueeze(1)
    y_test = torch.tensor(test_labels).long()
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(1600, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    times = []
    for _ in range(EPOCHS):
        start = time.perf_counter()
        model.train()
        for index in torch.randperm(len(x)).split(BATCH):
            loss = F.cross_entropy(model(x[index]), y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        times.append(time.perf_counter() - start)
    model.eval()
    with torch.no_grad():
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    return {"epoch_seconds": statistics.median(times[1:]), "test_accuracy": accuracy, "peak_rss_mb": peak_rss_mb()}


def run_torch_fast(directory, seed=1):
    """configs/mnist-fast.json in PyTorch, the published recipe it follows: conv
    24 5x5, conv 32 3x3 (each relu and 2x2 max pooling), dense 256, Adam with
    betas (0.7, 0.9) under a one-cycle schedule to 0.01 (learning rate only,
    as our one_cycle), batch 256, one epoch, two threads; then the test accuracy.
    The caller times the whole process, from start to this line."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(2)
    torch.manual_seed(seed)
    images, labels = load_idx(directory, "train")
    test_images, test_labels = load_idx(directory, "t10k")
    x = torch.tensor(images).float().div(255).unsqueeze(1)
    y = torch.tensor(labels).long()
    x_test = torch.tensor(test_images).float().div(255).unsqueeze(1)
    y_test = torch.tensor(test_labels).long()
    model = nn.Sequential(
        nn.Conv2d(1, 24, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(24, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(800, 256), nn.ReLU(), nn.Linear(256, 10))
    batches = torch.randperm(len(x)).split(256)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.7, 0.9))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.01, total_steps=len(batches), cycle_momentum=False)
    model.train()
    for index in batches:
        loss = F.cross_entropy(model(x[index]), y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    return {"test_accuracy": accuracy, "peak_rss_mb": peak_rss_mb()}


def time_to_accuracy(bench, directory, config, seeds=(1, 2, 3)):
    """mnist-train and the PyTorch recipe, each a whole process timed from its
    start to its test accuracy, alternating seed by seed in one run."""
    train = os.path.join(os.path.dirname(bench), "mnist-train")
    result = {"config": config}
    for seed in seeds:
        start = time.perf_counter()
        ours = subprocess.run([train, "--config", config, "--data", directory, "--seed", str(seed), "--quiet",
                               "--output", f"/tmp/mnist-fast-{seed}.ckpt"], check=True, capture_output=True, text=True)
        ours_seconds = time.perf_counter() - start
        final = ours.stdout.strip().splitlines()[-1]
        start = time.perf_counter()
        torch = json.loads(subprocess.run([sys.executable, __file__, "torch-fast", "--data", directory, "--seed", str(seed)],
                                          check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
        torch_seconds = time.perf_counter() - start
        result[f"seed_{seed}"] = {
            "seconds": round(ours_seconds, 2), "test_accuracy": float(final.split("test_accuracy: ")[1]),
            "torch_seconds": round(torch_seconds, 2), "torch_test_accuracy": round(torch["test_accuracy"], 4),
            "torch_over_ours": round(torch_seconds / ours_seconds, 2)}
    runs = [result[f"seed_{seed}"] for seed in seeds]
    result["median_seconds"] = statistics.median(r["seconds"] for r in runs)
    result["median_torch_seconds"] = statistics.median(r["torch_seconds"] for r in runs)
    result["torch_over_ours"] = round(result["median_torch_seconds"] / result["median_seconds"], 2)
    result["every_seed_at_least_0.990"] = all(r["test_accuracy"] >= 0.990 for r in runs)
    return result


def run_child(kind, directory, config):
    output = subprocess.run([sys.executable, __file__, kind, "--data", directory, "--config", config], check=True, capture_output=True, text=True)
    return json.loads(output.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    runs = {"numpy": run_numpy, "keras": run_keras, "keras-cnn": run_keras_cnn, "keras-spec": run_keras_spec, "torch-cnn": run_torch_cnn,
            "torch-fast": run_torch_fast}
    parser.add_argument("kind", nargs="?", choices=["all"] + list(runs), default="all")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--bench", default=".build/release/mnist-bench")
    parser.add_argument("--config", default="dense512.json")
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS") or 1),
                        help="alternate ours and the references this many times (env ROUNDS); medians and ranges of the ratios")
    args = parser.parse_args()
    if args.kind == "torch-fast":
        print(json.dumps(run_torch_fast(args.data, args.seed)))
        return
    if args.kind == "keras-spec":
        print(json.dumps(run_keras_spec(args.data, args.config)))
        return
    if args.kind != "all":
        print(json.dumps(runs[args.kind](args.data)))
        return
    if "fast" in args.config:
        # A recipe judged by its time to a test accuracy, not by its epoch time.
        print(json.dumps(time_to_accuracy(args.bench, args.data, args.config)))
        return
    # The seed model beside NumPy and Keras; keras-io's convnet beside Keras and PyTorch;
    # any other spec (cnn.json) beside the same layers in Keras.
    name = os.path.basename(args.config)
    references = {"dense512.json": [("numpy", "numpy"), ("keras", "keras")],
                  "mnist-cnn.json": [("keras", "keras-cnn"), ("torch", "torch-cnn")]}.get(name, [("keras", "keras-spec")])
    # Each round runs ours, then each reference: on a shared machine whose load drifts, a ratio is
    # taken within its round, and more rounds give its median and range.
    rounds = []
    for _ in range(max(args.rounds, 1)):
        ours = json.loads(subprocess.run([args.bench, "--config", args.config, "--data", args.data], check=True, capture_output=True,
                                         text=True).stdout.strip().splitlines()[-1])
        rounds.append((ours, {reference: run_child(kind, args.data, args.config) for reference, kind in references}))
    epochs = [ours["epoch_seconds"] for ours, _ in rounds]
    result = dict(rounds[epochs.index(sorted(epochs)[(len(epochs) - 1) // 2])][0])  # the (lower) median round's figures
    result["epoch_seconds"] = round(statistics.median(epochs), 3)
    if len(rounds) > 1:
        result["rounds"] = len(rounds)
        result["epoch_seconds_range"] = [min(epochs), max(epochs)]
    for reference, _ in references:
        seconds = [theirs[reference]["epoch_seconds"] for _, theirs in rounds]
        ratios = [theirs[reference]["epoch_seconds"] / ours["epoch_seconds"] for ours, theirs in rounds]
        result[f"{reference}_epoch_seconds"] = round(statistics.median(seconds), 3)
        result[f"{reference}_over_ours"] = round(statistics.median(ratios), 2)
        if len(rounds) > 1:
            result[f"{reference}_over_ours_range"] = [round(min(ratios), 2), round(max(ratios), 2)]
        result[f"{reference}_peak_rss_mb"] = round(max(theirs[reference]["peak_rss_mb"] for _, theirs in rounds), 1)
        result[f"{reference}_test_accuracy"] = round(rounds[0][1][reference]["test_accuracy"], 4)
    print(json.dumps(result))

if __name__ == "__main__":
    main()
