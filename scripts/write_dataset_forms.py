#!/usr/bin/env python3
"""Writes an IDX dataset folder in the other forms mnist-train reads, with NumPy
and the standard library only (an independent writer for the readers' tests):

  OUT/data.npz                     Keras' keys, np.savez_compressed
  OUT/csv/train.csv, test.csv      Kaggle's layout: label,pixel0,...
  OUT/folders/{train,test}/<label>/<index>.png   8-bit grayscale PNG (every
                                   seventh image a binary PGM instead)

usage: write_dataset_forms.py IDX_DIR OUT_DIR [--forms npz,csv,folders] [--limit N]
"""
import argparse
import gzip
import os
import struct
import zlib

import numpy as np


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, rank = struct.unpack(">HBB", data[:4])
    assert zero == 0 and dtype == 8, path
    shape = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * rank).reshape(shape)


def find(folder, stem):
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if os.path.exists(os.path.join(folder, name)):
            return os.path.join(folder, name)
    raise SystemExit(f"{folder}: no {stem}")


def png(image):
    height, width = image.shape
    raw = b"".join(b"\x00" + image[y].tobytes() for y in range(height))
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def pgm(image):
    height, width = image.shape
    return f"P5\n{width} {height}\n255\n".encode() + image.tobytes()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("idx")
    parser.add_argument("out")
    parser.add_argument("--forms", default="npz,csv,folders")
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    splits = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        x = read_idx(find(args.idx, f"{prefix}-images-idx3-ubyte"))
        y = read_idx(find(args.idx, f"{prefix}-labels-idx1-ubyte"))
        if args.limit:
            x, y = x[:args.limit], y[:args.limit]
        splits[split] = (x, y)
    forms = args.forms.split(",")
    os.makedirs(args.out, exist_ok=True)
    if "npz" in forms:
        np.savez_compressed(os.path.join(args.out, "data.npz"), x_train=splits["train"][0], y_train=splits["train"][1],
                            x_test=splits["test"][0], y_test=splits["test"][1])
    if "csv" in forms:
        os.makedirs(os.path.join(args.out, "csv"), exist_ok=True)
        for split, (x, y) in splits.items():
            pixels = x.reshape(len(x), -1)
            rows = np.concatenate([y.reshape(-1, 1), pixels], axis=1)
            header = "label," + ",".join(f"pixel{k}" for k in range(pixels.shape[1]))
            np.savetxt(os.path.join(args.out, "csv", f"{split}.csv"), rows, fmt="%d", delimiter=",", header=header, comments="")
    if "folders" in forms:
        for split, (x, y) in splits.items():
            for label in np.unique(y):
                os.makedirs(os.path.join(args.out, "folders", split, str(label)), exist_ok=True)
            for index, (image, label) in enumerate(zip(x, y)):
                name, data = (f"{index:05d}.pgm", pgm(image)) if index % 7 == 3 else (f"{index:05d}.png", png(image))
                with open(os.path.join(args.out, "folders", split, str(label), name), "wb") as f:
                    f.write(data)


if __name__ == "__main__":
    main()
