import ArgumentParser
import CLISupport
import Foundation
import MNISTKit

@main
struct MNISTExport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mnist-export",
        abstract: "Export a checkpoint's model for use elsewhere: ONNX, a Keras .keras file, or the weights alone.",
        discussion: """
            --onnx writes an ONNX model (opset 13) for onnxruntime and other runtimes: input \
            "input", float32 of shape [N] + the spec's input_shape with pixels in [0, 1] (what \
            feeds Keras); output "probabilities", [N, classes]. Dropout and augmentation layers \
            are left out, as in inference. \
            --keras writes a Keras 3 archive (.keras: config.json, model.weights.h5, metadata.json) \
            that keras.saving.load_model opens with no custom objects, compiled with the spec's loss, \
            optimizer and metrics; a one-cycle schedule, which Keras lacks, becomes its starting rate. \
            --weights writes a weights-only safetensors file: every layer variable under its Keras name \
            (dense_1.kernel as (inputs, units), conv2d_1.kernel as (kh, kw, in, out), \
            batch_normalization_1.moving_mean, ...), no optimizer state, with the spec, class names \
            and image shape in its metadata. `mnist-train --init FILE` starts from it; Keras' \
            layer.set_weights takes its tensors as they are. \
            Exit codes: 0 ok, 64 bad command line, 65 bad input, 66 missing file, 73 cannot write.
            """,
        version: toolVersion)

    @Argument(help: "Checkpoint file written by mnist-train.")
    var checkpoint: String

    @Option(help: "Write an ONNX model to this file.")
    var onnx: String?

    @Option(help: "Write a Keras 3 .keras archive to this file.")
    var keras: String?

    @Option(help: "Write the weights (safetensors) to this file.")
    var weights: String?

    static func main() { runAsTool() }

    func validate() throws {
        if onnx == nil, keras == nil, weights == nil { throw ValidationError("name what to write: --onnx FILE, --keras FILE, --weights FILE, or several") }
    }

    func run() throws {
        let loaded = try Checkpoint.load(path: checkpoint)
        let (model, _, _) = try loaded.restore(path: checkpoint, classCount: loaded.classNames?.count ?? 10)
        let metadata = [("spec", loaded.spec.json.serialized)] + loaded.datasetMetadata
        if let onnx {
            try writeOutputFile(try model.onnxModel(producerVersion: toolVersion, metadata: metadata), to: onnx, what: "ONNX model")
            printOut("wrote \(onnx): ONNX opset 13, input \(formatShape([-1] + loaded.spec.inputShape).replacingOccurrences(of: "-1", with: "N")), "
                     + "output (N, \(model.classCount)), \(groupedThousands(model.parameterCount + model.nonTrainableCount)) weights")
        }
        if let keras {
            try model.writeKerasArchive(to: keras)
            printOut("wrote \(keras): Keras 3 functional model, \(counted(model.summary.count, "layer")), \(groupedThousands(model.parameterCount + model.nonTrainableCount)) weights")
        }
        if let weights {
            try checkCheckpointPath(weights, weightsOnly: true)
            try model.weightsFile(metadata: metadata).save(to: weights)
            printOut("wrote \(weights): \(counted(model.variables.count, "tensor")), \(groupedThousands(model.parameterCount + model.nonTrainableCount)) values")
        }
    }
}
