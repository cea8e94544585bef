import Foundation
@preconcurrency import Glibc
import MNISTKit

/// "1 epoch", "3 epochs".
public func counted(_ count: Int, _ noun: String) -> String { "\(count) \(noun)\(count == 1 ? "" : "s")" }

/// Four decimals, as Keras prints metrics.
public func fourDecimals(_ value: Double) -> String { String(format: "%.4f", value) }

/// 407050 -> "407,050".
public func groupedThousands(_ value: Int) -> String {
    let digits = String(value)
    var out = ""
    for (index, character) in digits.enumerated() {
        if index > 0, (digits.count - index) % 3 == 0 { out.append(",") }
        out.append(character)
    }
    return out
}

/// `[=========>....................]` for `done` of `total`.
public func progressBar(_ done: Int, of total: Int, width: Int = 30) -> String {
    guard total > 0 else { return "[" + String(repeating: "=", count: width) + "]" }
    let filled = min(width, done * width / total)
    if filled >= width { return "[" + String(repeating: "=", count: width) + "]" }
    return "[" + String(repeating: "=", count: filled) + ">" + String(repeating: ".", count: width - filled - 1) + "]"
}

/// The running line while an epoch trains (redrawn in place on a terminal):
/// `epoch 2/5  312/469 [=========>....] ETA 1s - loss: 0.3825 - accuracy: 0.8606`.
/// It fits in `width` columns less one (a line that wraps cannot be redrawn in
/// place): the bar shortens first, down to nothing, as Keras' progress bar does,
/// and only then is the line cut.
public func progressLine(_ progress: BatchProgress, width: Int = 80) -> String {
    let digits = String(progress.batchCount).count
    let perBatch = progress.seconds / Double(max(progress.batch, 1))
    let eta = Int((perBatch * Double(progress.batchCount - progress.batch)).rounded())
    let head = "epoch \(progress.epoch)/\(progress.epochs)  \(String(progress.batch).leftPadded(digits))/\(progress.batchCount) "
    let tail = "ETA \(eta)s - loss: \(fourDecimals(progress.loss)) - accuracy: \(fourDecimals(progress.accuracy))"
    let room = width - 1 - head.count - tail.count - 3 // brackets and a space
    let line = room >= 5 ? head + progressBar(progress.batch, of: progress.batchCount, width: min(room, 30)) + " " + tail : head + tail
    return String(line.prefix(max(width - 1, 1)))
}

/// The terminal's width in columns: asked of the terminal, else `$COLUMNS`, else 80.
public func terminalColumns() -> Int {
    var size = winsize()
    if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
    if let columns = ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init), columns > 0 { return columns }
    return 80
}

/// The line an epoch leaves behind:
/// `epoch 3/5  469/469 [=====] 2.1s 4ms/step - loss: 0.2886 - accuracy: 0.8949 - val_loss: ...`.
public func epochLine(_ report: EpochReport, batchCount: Int) -> String {
    let perStep = Int((report.seconds * 1000 / Double(max(batchCount, 1))).rounded())
    var line = "epoch \(report.epoch)/\(report.epochs)  \(batchCount)/\(batchCount) \(progressBar(1, of: 1)) "
        + String(format: "%.1fs", report.seconds) + " \(perStep)ms/step - loss: \(fourDecimals(report.loss)) - accuracy: \(fourDecimals(report.accuracy))"
    if let validation = report.validation {
        line += " - val_loss: \(fourDecimals(validation.loss)) - val_accuracy: \(fourDecimals(validation.accuracy))"
    }
    return line + " - learning_rate: \(kerasNumber(report.learningRate))"
}

/// A number as Keras' progress bar writes it: 4 decimals, or 4-digit
/// scientific notation when it is 0.001 or smaller (`1.0000e-04`).
public func kerasNumber(_ value: Double) -> String {
    abs(value) > 1e-3 ? String(format: "%.4f", value) : String(format: "%.4e", value)
}

/// What a callback did, as a line under the epoch's.
public func callbackLine(_ event: CallbackEvent) -> String {
    func epochs(_ n: Int) -> String { n == 1 ? "1 epoch" : "\(n) epochs" }
    switch event {
    case let .reducedLearningRate(rate, monitor, wait):
        return "reduce_lr_on_plateau: \(monitor) did not improve for \(epochs(wait)); learning_rate reduced to \(kerasNumber(rate))"
    case let .stoppedEarly(_, monitor, wait, restored):
        return "early stopping: \(monitor) did not improve for \(epochs(wait)); "
            + (restored.map { "restoring the weights of epoch \($0)" } ?? "stopping")
    case let .restoredBestWeights(epoch, monitor):
        return "early stopping: restoring the weights of epoch \(epoch), the best \(monitor)"
    }
}

/// An (H, W, C) image's pixels as (W, H, C): rows become columns.
public func transposed<Pixel>(_ pixels: [Pixel], height: Int, width: Int, channels: Int) -> [Pixel] {
    var out = pixels
    for y in 0 ..< height {
        for x in 0 ..< width {
            for c in 0 ..< channels { out[(x * height + y) * channels + c] = pixels[(y * width + x) * channels + c] }
        }
    }
    return out
}

/// An image as text: two characters per pixel (a character cell is about twice
/// as tall as it is wide, so the picture keeps its aspect ratio), darker
/// characters for brighter pixels.
public func textArt(pixels: ArraySlice<UInt8>, width: Int) -> String {
    let shades = Array(" .:-=+*#%@")
    var lines = [String]()
    var line = ""
    for (index, pixel) in pixels.enumerated() {
        let shade = shades[Int(pixel) * shades.count / 256]
        line.append(shade)
        line.append(shade)
        if (index + 1) % width == 0 {
            lines.append(line)
            line = ""
        }
    }
    if !line.isEmpty { lines.append(line) }
    return lines.joined(separator: "\n")
}

/// Keras' `model.summary()` table; the first column widens for long layer names.
/// A model whose spec names inputs prints as Keras prints a functional model:
/// an input row, and a "Connected to" column with each input on its own line.
public func summaryTable(_ model: Model) -> String {
    let functional = model.summary.contains { $0.inputs != nil }
    let shapeText = { (shape: [Int]) in formatShape([-1] + shape).replacingOccurrences(of: "-1", with: "None") }
    var rows = model.summary.map { layer in
        (name: "\(layer.name) (\(layer.kind))", shape: shapeText(layer.outputShape), parameters: groupedThousands(layer.parameterCount),
         connected: (layer.inputs ?? []).map { "\($0)[0][0]" })
    }
    if functional { rows.insert((name: "input (InputLayer)", shape: shapeText(model.spec.inputShape), parameters: "0", connected: ["-"]), at: 0) }
    let first = max(29, (rows.map(\.name.count).max() ?? 0) + 2)
    let connectedWidth = functional ? 14 + max(12, rows.flatMap(\.connected).map(\.count).max() ?? 0) : 0
    let width = first + 36 + connectedWidth
    let rule = String(repeating: "_", count: width), double = String(repeating: "=", count: width)
    func row(_ a: String, _ b: String, _ c: String, _ d: String = "") -> String {
        let line = (" " + a).padding(toLength: first, withPad: " ", startingAt: 0) + b.padding(toLength: 26, withPad: " ", startingAt: 0)
        return functional ? line + c.padding(toLength: 14, withPad: " ", startingAt: 0) + d : line + c
    }
    var lines = ["Model: \"\(model.spec.name)\"", rule, row("Layer (type)", "Output Shape", "Param #", "Connected to"), double]
    for layer in rows {
        lines.append(row(layer.name, layer.shape, layer.parameters, layer.connected.first ?? ""))
        for more in layer.connected.dropFirst() { lines.append(row("", "", "", more)) }
    }
    lines += [double, "Total params: \(groupedThousands(model.parameterCount + model.nonTrainableCount))",
              "Trainable params: \(groupedThousands(model.parameterCount))",
              "Non-trainable params: \(groupedThousands(model.nonTrainableCount))", rule]
    return lines.map { $0.replacingOccurrences(of: " +$", with: "", options: .regularExpression) }.joined(separator: "\n")
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
