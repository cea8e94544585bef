import Foundation
import SwiftProtobuf

// ONNX export (opset 13): the model's inference graph, written through the
// swift-protobuf messages in onnx.pb.swift (generated from onnx 1.23.2's
// onnx.proto as proto3 by scripts/generate-onnx-swift.sh). Each layer file
// writes its own nodes (`Layer.exportONNX`); this file holds the graph being
// built and the layout bookkeeping: our tensors are channels-last as Keras',
// ONNX's Conv and pooling are channels-first, so the graph transposes once
// before the first of those and back before anything that depends on the order.

extension Model {
    /// The ONNX model's bytes: input `input` float32 [N] + `spec.inputShape` (pixels in [0, 1]),
    /// output `probabilities` [N, classCount]; `metadata` goes into `metadata_props`. Throws
    /// swift-protobuf's encoding error should a message not encode.
    public func onnxModel(producerVersion: String, metadata: [(key: String, value: String)] = []) throws -> [UInt8] {
        var graph = ONNXGraph(model: self)
        // Each tensor's ONNX value, its layout and its Keras shape.
        var values = [ONNXValue(name: "input", layout: .keras, shape: spec.inputShape)]
        for (index, layer) in layers.enumerated() {
            let inputs = inputTensors[index].map { values[$0] }
            guard !layer.isAugmentation else {
                values.append(inputs[0])
                continue
            }
            (graph.current, graph.layout, graph.inputValues) = (inputs[0].name, inputs[0].layout, inputs)
            graph.layerName = summary[index].name
            layer.exportONNX(&graph, input: inputs[0].shape, output: summary[index].outputShape)
            values.append(ONNXValue(name: graph.current, layout: graph.layout, shape: summary[index].outputShape))
        }
        (graph.current, graph.layout) = (values.last!.name, values.last!.layout)
        graph.toKerasLayout(values.last!.shape)
        var proto = Onnx_ModelProto()
        proto.irVersion = 7  // the IR version of opset 13
        proto.producerName = "mnist-train"
        proto.producerVersion = producerVersion
        proto.opsetImport = [Onnx_OperatorSetIdProto.with { $0.domain = ""; $0.version = 13 }]
        proto.graph = graph.finished(name: spec.name, inputShape: spec.inputShape, classCount: classCount)
        proto.metadataProps = metadata.map { entry in Onnx_StringStringEntryProto.with { $0.key = entry.key; $0.value = entry.value } }
        return try proto.serializedBytes()
    }
}

/// A tensor of the model in the graph: the value's name, its layout and its Keras shape.
struct ONNXValue {
    let name: String
    let layout: ONNXGraph.Layout
    let shape: [Int]
}

/// The graph under construction: nodes in order, weights as initializers, and
/// where the running value is and in which layout.
struct ONNXGraph {
    enum Layout { case keras, channelsFirst }

    let model: Model
    var nodes: [Onnx_NodeProto] = []
    var initializers: [Onnx_TensorProto] = []
    /// The name of the value the next node reads.
    var current = "input"
    var layout = Layout.keras
    /// The layer writing nodes now (`conv2d_1`): names its nodes and its weights.
    var layerName = ""
    /// Every input of the layer writing nodes now (merging layers read several).
    var inputValues = [ONNXValue]()
    private var counter = 0

    init(model: Model) { self.model = model }

    /// A fresh value name within the current layer.
    mutating func name(_ what: String) -> String {
        counter += 1
        return "\(layerName.isEmpty ? "graph" : layerName)/\(what)_\(counter)"
    }

    /// Appends a node reading `inputs` (the running value when nil) and makes its output current.
    @discardableResult
    mutating func node(_ op: String, _ inputs: [String]? = nil, attributes: [Onnx_AttributeProto] = []) -> String {
        let output = name(op)
        nodes.append(Onnx_NodeProto.with {
            $0.opType = op
            $0.name = output
            $0.input = inputs ?? [current]
            $0.output = [output]
            $0.attribute = attributes
        })
        current = output
        return output
    }

    /// A float tensor of the graph's weights.
    mutating func constant(_ what: String, shape: [Int], values: [Float]) -> String {
        precondition(values.count == shape.reduce(1, *), "\(what): \(values.count) values for \(shape)")
        let name = "\(layerName).\(what)"
        initializers.append(Onnx_TensorProto.with {
            $0.name = name
            $0.dataType = Onnx_TensorProto.DataType.float.rawValue32
            $0.dims = shape.map(Int64.init)
            $0.rawData = values.withUnsafeBytes { Data($0) }  // little-endian, as ONNX stores raw data
        })
        return name
    }

    /// An int64 tensor (shapes, axes).
    mutating func integers(_ what: String, _ values: [Int]) -> String {
        let name = "\(layerName).\(what)"
        initializers.append(Onnx_TensorProto.with {
            $0.name = name
            $0.dataType = Onnx_TensorProto.DataType.int64.rawValue32
            $0.dims = [Int64(values.count)]
            $0.int64Data = values.map(Int64.init)
        })
        return name
    }

    /// The current layer's variable (`kernel`, `moving_mean`) as Keras stores it.
    func weight(_ variable: String) -> [Float] {
        guard let slot = model.variables.first(where: { $0.name == "\(layerName).\(variable)" }) else {
            preconditionFailure("\(layerName) has no variable \(variable)")
        }
        let buffer = model.buffer(of: slot)
        return Array(UnsafeBufferPointer(start: buffer.pointer + slot.offset, count: slot.count))
    }

    /// Makes the running value channels-first, (N, C, H, W), from the Keras shape (H, W[, C]).
    mutating func toChannelsFirst(_ kerasShape: [Int]) {
        guard layout == .keras else { return }
        if kerasShape.count == 2 {
            node("Unsqueeze", [current, integers("channel_axis", [1])])
        } else {
            node("Transpose", attributes: [.ints("perm", [0, 3, 1, 2])])
        }
        layout = .channelsFirst
    }

    /// Makes the running value Keras' layout again: (N) + `kerasShape`.
    mutating func toKerasLayout(_ kerasShape: [Int]) {
        guard layout == .channelsFirst else { return }
        node("Transpose", attributes: [.ints("perm", [0, 2, 3, 1])])
        if kerasShape.count != 3 { node("Reshape", [current, integers("shape", [-1] + kerasShape)]) }
        layout = .keras
    }

    /// The names of `values` in one layout: channels-first when they all are and
    /// are images, Keras' otherwise (each converted back as needed).
    mutating func sameLayout(_ values: [ONNXValue], shape: [Int]) -> [String] {
        if shape.count == 3, values.allSatisfy({ $0.layout == .channelsFirst }) {
            layout = .channelsFirst
            return values.map(\.name)
        }
        let names = values.map { value in
            (current, layout) = (value.name, value.layout)
            toKerasLayout(value.shape)
            return current
        }
        layout = .keras
        return names
    }

    /// The activation's node; softmax over the channels (the last Keras axis) in either layout,
    /// leaky_relu's and elu's parameters written out (ONNX's defaults, 0.01 and 1, are not Keras').
    mutating func activation(_ activation: Activation) {
        guard let name = activation.onnxOperator else { return }
        switch activation {
        case .softmax: node(name, attributes: [.int("axis", layout == .channelsFirst ? 1 : -1)])
        case .leakyRelu: node(name, attributes: [.float("alpha", Activation.leakyReluSlope)])
        case .elu: node(name, attributes: [.float("alpha", 1)])
        case .gelu:
            // x/2 · (1 + erf(x/√2)).
            let x = current
            node("Div", [x, constant("sqrt2", shape: [1], values: [Float(2).squareRoot()])])
            node(name)
            node("Add", [current, constant("one", shape: [1], values: [1])])
            node("Mul", [x, current])
            node("Mul", [current, constant("half", shape: [1], values: [0.5])])
        case .silu, .swish:
            let x = current
            node(name)
            node("Mul", [x, current])
        default: node(name)
        }
    }

    /// Explicit pads (top, left, bottom, right) for ONNX from our window: Keras' "same" puts
    /// the odd pixel at the end.
    static func pads(_ window: Window2D) -> [Int] {
        let bottom = max((window.outputHeight - 1) * window.strideY + window.kernelHeight - window.height - window.padTop, 0)
        let right = max((window.outputWidth - 1) * window.strideX + window.kernelWidth - window.width - window.padLeft, 0)
        return [window.padTop, window.padLeft, bottom, right]
    }

    func finished(name: String, inputShape: [Int], classCount: Int) -> Onnx_GraphProto {
        func valueInfo(_ name: String, _ shape: [Int]) -> Onnx_ValueInfoProto {
            Onnx_ValueInfoProto.with {
                $0.name = name
                $0.type.tensorType.elemType = Onnx_TensorProto.DataType.float.rawValue32
                $0.type.tensorType.shape.dim = [Onnx_TensorShapeProto.Dimension.with { $0.dimParam = "N" }]
                    + shape.map { size in Onnx_TensorShapeProto.Dimension.with { $0.dimValue = Int64(size) } }
            }
        }
        var nodes = self.nodes
        nodes.append(Onnx_NodeProto.with {
            $0.opType = "Identity"
            $0.name = "probabilities"
            $0.input = [current]
            $0.output = ["probabilities"]
        })
        return Onnx_GraphProto.with {
            $0.name = name
            $0.node = nodes
            $0.initializer = initializers
            $0.input = [valueInfo("input", inputShape)]
            $0.output = [valueInfo("probabilities", [classCount])]
        }
    }
}

extension Onnx_AttributeProto {
    static func int(_ name: String, _ value: Int) -> Onnx_AttributeProto {
        .with { $0.name = name; $0.type = .int; $0.i = Int64(value) }
    }

    static func ints(_ name: String, _ values: [Int]) -> Onnx_AttributeProto {
        .with { $0.name = name; $0.type = .ints; $0.ints = values.map(Int64.init) }
    }

    static func float(_ name: String, _ value: Float) -> Onnx_AttributeProto {
        .with { $0.name = name; $0.type = .float; $0.f = value }
    }
}

extension Onnx_TensorProto.DataType {
    var rawValue32: Int32 { Int32(rawValue) }
}
