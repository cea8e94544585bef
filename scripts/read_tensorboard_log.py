#!/usr/bin/env python3
"""What TensorBoard's own readers make of a log folder, as JSON (for the tests).

    read_tensorboard_log.py LOGDIR [--weights CHECKPOINT]
        {"train": {"scalars": {tag: [[step, value], ...]},
                   "histograms": {tag: [[step, num, min, max, [bucket counts]], ...]},
                   "images": {tag: [[step, width, height, png width, png height], ...]}},
         "validation": {...},
         "numpy": {tag: [bucket counts]}}
    Runs are read with tensorboard's EventAccumulator (every event kept). With
    --weights, "numpy" holds numpy.histogram(values, bins=30) of each variable
    of a safetensors checkpoint, under the histogram tag it should match.

    read_tensorboard_log.py --records EVENTFILE
        Reads every record with TensorBoard's TFRecord reader (which checks
        both CRCs): prints "records: N", or the reader's error.
"""
import json
import os
import struct
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def read_run(folder):
    accumulator = EventAccumulator(folder, size_guidance={"scalars": 0, "histograms": 0, "images": 0, "tensors": 0})
    accumulator.Reload()
    tags = accumulator.Tags()
    run = {"scalars": {}, "histograms": {}, "images": {}}
    for tag in tags["scalars"]:
        run["scalars"][tag] = [[e.step, e.value] for e in accumulator.Scalars(tag)]
    for tag in tags["histograms"]:
        run["histograms"][tag] = [
            [e.step, e.histogram_value.num, e.histogram_value.min, e.histogram_value.max, list(e.histogram_value.bucket)]
            for e in accumulator.Histograms(tag)
        ]
    for tag in tags["images"]:
        images = []
        for e in accumulator.Images(tag):
            png = e.encoded_image_string
            assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
            width, height = struct.unpack(">II", png[16:24])
            images.append([e.step, e.width, e.height, width, height])
        run["images"][tag] = images
    return run


def main():
    if sys.argv[1] == "--records":
        from tensorboard.compat.tensorflow_stub import errors, pywrap_tensorflow

        reader = pywrap_tensorflow.PyRecordReader_New(sys.argv[2], 0, "")
        count = 0
        try:
            while True:
                reader.GetNext()
                count += 1
        except errors.OutOfRangeError:
            print(f"records: {count}")
        except errors.DataLossError as error:
            print(f"after {count} records: {error.message}")
        return
    logdir = sys.argv[1]
    result = {run: read_run(f"{logdir}/{run}") for run in ("train", "validation") if os.path.isdir(f"{logdir}/{run}")}
    if "--weights" in sys.argv:
        import numpy
        from safetensors.numpy import load_file

        weights = load_file(sys.argv[sys.argv.index("--weights") + 1])
        result["numpy"] = {
            name.replace(".", "/") + "/histogram": numpy.histogram(values.astype(numpy.float64), bins=30)[0].tolist()
            for name, values in weights.items()
            if not name.startswith("optimizer.")
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
