import Foundation
import MNISTKit
import TestFixtures
import XCTest

/// 28x28 models for the tools that take pictures: a dataset of the synthetic 4x4 images
/// with each pixel a 7x7 block, and checkpoints trained on it for four epochs.
enum DigitModels {
    static let dense = """
        [{"type": "flatten"}, {"type": "dense", "units": 16, "activation": "relu"}, {"type": "batch_normalization"},
         {"type": "dense", "units": 10, "activation": "softmax"}]
        """
    /// Every layer type the trainer has, batch normalization on images (H, W), on (H, W, C)
    /// and on flat rows, and every activation but linear; a graph: images concatenated on
    /// their channels, and every merge on rows, one output read by four layers.
    static let convolutional = """
        [{"type": "random_flip", "mode": "horizontal"}, {"type": "random_translation", "height_factor": 0.1, "width_factor": 0.1},
         {"type": "random_rotation", "factor": 0.05}, {"type": "random_zoom", "height_factor": 0.1},
         {"type": "random_erasing", "factor": 0.5, "scale": [0.02, 0.1], "value_range": [0, 1]},
         {"type": "batch_normalization"},
         {"type": "reshape", "target_shape": [28, 28, 1]},
         {"type": "zero_padding2d", "padding": [[1, 0], [2, 1]]},
         {"type": "conv2d", "filters": 4, "kernel_size": 3, "activation": "relu"},
         {"type": "batch_normalization"},
         {"type": "max_pooling2d", "pool_size": 2, "name": "pool"},
         {"type": "conv2d", "filters": 2, "kernel_size": 1, "padding": "same", "activation": "relu", "name": "side"},
         {"type": "concatenate", "inputs": ["pool", "side"]},
         {"type": "conv2d", "filters": 6, "kernel_size": [3, 2], "strides": 2, "padding": "same", "activation": "tanh"},
         {"type": "depthwise_conv2d", "kernel_size": 3, "padding": "same", "depth_multiplier": 2, "activation": "relu"},
         {"type": "separable_conv2d", "filters": 6, "kernel_size": 2, "padding": "same", "activation": "tanh"},
         {"type": "average_pooling2d", "pool_size": 2},
         {"type": "conv2d", "filters": 5, "kernel_size": 1, "use_bias": false, "activation": "elu"},
         {"type": "activation", "activation": "sigmoid"},
         {"type": "global_average_pooling2d"},
         {"type": "flatten"},
         {"type": "dropout", "rate": 0.25},
         {"type": "dense", "units": 12, "activation": "gelu"},
         {"type": "batch_normalization", "center": false, "scale": false},
         {"type": "dense", "units": 20, "activation": "leaky_relu", "name": "trunk"},
         {"type": "dense", "units": 20, "activation": "tanh", "name": "branch"},
         {"type": "add", "inputs": ["trunk", "branch"]},
         {"type": "subtract", "inputs": ["add_1", "branch"]},
         {"type": "multiply", "inputs": ["subtract_1", "trunk", "branch"]},
         {"type": "average", "inputs": ["multiply_1", "add_1"]},
         {"type": "maximum", "inputs": ["average_1", "branch"]},
         {"type": "minimum", "inputs": ["maximum_1", "trunk"]},
         {"type": "concatenate", "inputs": ["minimum_1", "branch"]},
         {"type": "layer_normalization"},
         {"type": "silu"},
         {"type": "reshape", "target_shape": [2, 2, 10]},
         {"type": "global_max_pooling2d"},
         {"type": "dense", "units": 10, "activation": "softmax"}]
        """

    static func makeDataset(_ box: Sandbox, folder name: String = "digits") throws -> String {
        let folder = box.root.appendingPathComponent("data/\(name)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for (split, count, seed) in [("train", 200, UInt64(1)), ("t10k", 50, UInt64(2))] {
            let small = syntheticDataset(count: count, seed: seed)
            var images = [UInt8](repeating: 0, count: count * 784)
            for n in 0 ..< count {
                for y in 0 ..< 28 { for x in 0 ..< 28 { images[n * 784 + y * 28 + x] = small.images[n * 16 + (y / 7) * 4 + x / 7] } }
            }
            try Data(IDX.encode(elementType: .uint8, dimensions: [count, 28, 28], payload: images))
                .write(to: folder.appendingPathComponent("\(split)-images-idx3-ubyte"))
            try Data(IDX.encode(elementType: .uint8, dimensions: [count], payload: small.labels))
                .write(to: folder.appendingPathComponent("\(split)-labels-idx1-ubyte"))
        }
        return folder.path
    }

    /// The spec file `train` trains: `layers` on 28x28 images, Adam, four epochs.
    static func config(_ box: Sandbox, layers: String, name: String, dataset: String = "digits") throws -> String {
        try box.writeConfig("""
            {"name": "\(name)", "dataset": "\(dataset)", "input_shape": [28, 28], "layers": \(layers),
             "loss": "categorical_crossentropy", "optimizer": {"type": "adam", "learning_rate": 0.01},
             "epochs": 4, "batch_size": 32}
            """)
    }

    /// Trains `layers` for four epochs; returns the checkpoint's path and the dataset folder.
    /// `dataset` names the data's folder: "emnist-digits" (a set known by its folder's name,
    /// as this project has no digest of its files) makes the checkpoint record transposed images.
    static func train(_ box: Sandbox, layers: String, name: String, dataset: String = "digits") throws -> (checkpoint: String, data: String) {
        let data = try makeDataset(box, folder: dataset)
        let spec = try config(box, layers: layers, name: name, dataset: dataset)
        let checkpoint = box.path("\(name).ckpt")
        let result = try runTool("mnist-train", ["--config", spec, "--data", data, "--output", checkpoint, "--threads", "1"])
        XCTAssertEqual(result.status, 0, result.stderr)
        return (checkpoint, data)
    }
}
