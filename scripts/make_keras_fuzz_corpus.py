"""Writes the seeds of the Keras-weights fuzz target (Tests/Fuzz/corpus/keras): the model
of Tests/Fuzz/KerasWeightsFuzzer.swift built and saved by Keras itself, as a .keras archive
and as save_weights' .weights.h5.

    KERAS_BACKEND=jax python3 scripts/make_keras_fuzz_corpus.py
"""
import json
import os
import re
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(root, "scripts"))
from keras_from_checkpoint import build  # noqa: E402

source = open(os.path.join(root, "Tests/Fuzz/KerasWeightsFuzzer.swift")).read()
spec = json.loads(re.search(r'"""\n(.*?)\n\s*"""', source, re.S).group(1))
model = build(spec)
model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
out = os.path.join(root, "Tests/Fuzz/corpus/keras")
os.makedirs(out, exist_ok=True)
model.save(os.path.join(out, "model.keras"))
model.save_weights(os.path.join(out, "model.weights.h5"))
