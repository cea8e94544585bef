import Foundation
import MNISTKit

// `mnist-train --plot FILE.svg`: loss and accuracy per epoch, training and
// validation, as a self-contained SVG (no scripts, no external fonts or styles).

/// Two panels, loss and accuracy, one polyline per curve, with axes, ticks, a
/// legend and the config's name.
public func trainingCurvesSVG(_ history: [EpochFigures], title: String) -> String {
    let width = 760.0, height = 400.0, top = 56.0, bottom = 48.0, left = 64.0, gap = 72.0, right = 24.0
    let panelWidth = (width - left - gap - right) / 2, panelHeight = height - top - bottom
    let training = "#1f77b4", validation = "#ff7f0e"
    var svg = [##"<svg xmlns="http://www.w3.org/2000/svg" width="\##(Int(width))" height="\##(Int(height))" viewBox="0 0 \##(Int(width)) \##(Int(height))" font-family="sans-serif" font-size="12">"##,
               ##"<rect width="100%" height="100%" fill="white"/>"##,
               ##"<text x="\##(Int(width / 2))" y="22" text-anchor="middle" font-size="15">\##(escapeXML(title))</text>"##]
    let epochs = history.map { Double($0.epoch) }
    let firstEpoch = epochs.first ?? 1, lastEpoch = max(epochs.last ?? 1, firstEpoch + 1)

    func panel(_ x0: Double, _ name: String, _ series: [(label: String, color: String, values: [Double])]) {
        let values = series.flatMap(\.values).filter(\.isFinite)
        var (low, high) = (values.min() ?? 0, values.max() ?? 1)
        if high - low < 1e-9 { (low, high) = (low - 0.5, high + 0.5) }
        let ticks = niceTicks(low, high)
        low = min(low, ticks.first ?? low)
        high = max(high, ticks.last ?? high)
        func px(_ epoch: Double) -> Double { x0 + (epoch - firstEpoch) / (lastEpoch - firstEpoch) * panelWidth }
        func py(_ value: Double) -> Double { top + (1 - (value - low) / (high - low)) * panelHeight }
        svg.append(##"<g class="panel" data-name="\##(name)">"##)
        svg.append(##"<rect x="\##(f(x0))" y="\##(f(top))" width="\##(f(panelWidth))" height="\##(f(panelHeight))" fill="none" stroke="#444"/>"##)
        for tick in ticks {
            svg.append(##"<line x1="\##(f(x0 - 4))" y1="\##(f(py(tick)))" x2="\##(f(x0 + panelWidth))" y2="\##(f(py(tick)))" stroke="#ddd"/>"##)
            svg.append(##"<text x="\##(f(x0 - 7))" y="\##(f(py(tick) + 4))" text-anchor="end">\##(label(tick))</text>"##)
        }
        for epoch in epochTicks(Int(firstEpoch), Int(lastEpoch)) {
            svg.append(##"<line x1="\##(f(px(Double(epoch))))" y1="\##(f(top + panelHeight))" x2="\##(f(px(Double(epoch))))" y2="\##(f(top + panelHeight + 4))" stroke="#444"/>"##)
            svg.append(##"<text x="\##(f(px(Double(epoch))))" y="\##(f(top + panelHeight + 17))" text-anchor="middle">\##(epoch)</text>"##)
        }
        svg.append(##"<text x="\##(f(x0 + panelWidth / 2))" y="\##(f(height - 10))" text-anchor="middle">epoch</text>"##)
        svg.append(##"<text x="\##(f(x0 + panelWidth / 2))" y="\##(f(top - 8))" text-anchor="middle" font-weight="bold">\##(name)</text>"##)
        for (index, curve) in series.enumerated() where !curve.values.isEmpty {
            let points = zip(epochs, curve.values).map { "\(f(px($0))),\(f(py($1)))" }.joined(separator: " ")
            svg.append(##"<polyline data-curve="\##(curve.label)" points="\##(points)" fill="none" stroke="\##(curve.color)" stroke-width="2"/>"##)
            // Legend, top right inside the panel.
            let y = top + 16 + 16 * Double(index)
            svg.append(##"<line x1="\##(f(x0 + panelWidth - 110))" y1="\##(f(y - 4))" x2="\##(f(x0 + panelWidth - 90))" y2="\##(f(y - 4))" stroke="\##(curve.color)" stroke-width="2"/>"##)
            svg.append(##"<text x="\##(f(x0 + panelWidth - 85))" y="\##(f(y))">\##(curve.label)</text>"##)
        }
        svg.append("</g>")
    }
    let hasValidation = history.contains { $0.validationLoss != nil }
    panel(left, "loss", [("training", training, history.map(\.loss))]
        + (hasValidation ? [("validation", validation, history.compactMap(\.validationLoss))] : []))
    panel(left + panelWidth + gap, "accuracy", [("training", training, history.map(\.accuracy))]
        + (hasValidation ? [("validation", validation, history.compactMap(\.validationAccuracy))] : []))
    svg.append("</svg>")
    return svg.joined(separator: "\n") + "\n"
}

private func f(_ value: Double) -> String { String(format: "%.1f", value) }

/// Round tick values (1, 2 or 5 times a power of ten apart) covering low...high.
func niceTicks(_ low: Double, _ high: Double, count: Int = 5) -> [Double] {
    let raw = (high - low) / Double(count)
    let magnitude = pow(10, (log10(raw)).rounded(.down))
    let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
    let first = (low / step).rounded(.down) * step
    return stride(from: first, through: high + step * 0.999, by: step).map { ($0 / step).rounded() * step }
}

private func label(_ value: Double) -> String {
    let text = String(format: "%.4g", value)
    return text == "-0" ? "0" : text
}

/// At most about ten epoch ticks.
private func epochTicks(_ first: Int, _ last: Int) -> [Int] {
    let step = max(1, (last - first + 9) / 10)
    return Array(stride(from: first, through: last, by: step))
}

private func escapeXML(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
