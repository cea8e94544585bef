import CLISupport
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest

/// `mnist-train --plot`: the SVG parses as XML, with one polyline per curve
/// and one point per epoch, and survives a resume whole.
final class PlotTests: XCTestCase {
    /// Polylines by their curve label and panel, with their point counts.
    final class Collector: NSObject, XMLParserDelegate {
        var panel = ""
        var curves = [String: Int]()
        var texts = [String]()
        var inText = false
        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String]) {
            if name == "g" { panel = attributes["data-name"] ?? "" }
            if name == "polyline" { curves["\(panel) \(attributes["data-curve"] ?? "")"] = (attributes["points"] ?? "").split(separator: " ").count }
            inText = name == "text"
        }
        func parser(_ parser: XMLParser, foundCharacters string: String) { if inText { texts.append(string) } }
        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) { inText = false }
    }

    func parse(_ path: String) throws -> Collector {
        let parser = XMLParser(data: try Data(contentsOf: URL(fileURLWithPath: path)))
        let collector = Collector()
        parser.delegate = collector
        XCTAssertTrue(parser.parse(), "not well-formed XML: \(String(describing: parser.parserError))")
        return collector
    }

    func testPlotHasACurvePerSeriesAndAPointPerEpoch() throws {
        let box = try Sandbox(configText: Sandbox.config(epochs: 3, extra: #", "validation_split": 0.2"#))
        let train = try runTool("mnist-train", ["--config", box.config.path, "--data", box.data.path, "--output", box.path("p.ckpt"),
                                                "--plot", box.path("curves.svg"), "--threads", "1"])
        XCTAssertEqual(train.status, 0, train.stderr)
        let first = try parse(box.path("curves.svg"))
        XCTAssertEqual(first.curves, ["loss training": 3, "loss validation": 3, "accuracy training": 3, "accuracy validation": 3])
        XCTAssertTrue(first.texts.contains("synthetic"), "the config's name is the title")
        XCTAssertTrue(first.texts.contains("training") && first.texts.contains("validation") && first.texts.contains("epoch"))

        // A resume continues the same curves: the history is in the checkpoint.
        let resume = try runTool("mnist-train", ["--resume", box.path("p.ckpt"), "--data", box.data.path, "--epochs", "5",
                                                 "--plot", box.path("curves.svg"), "--threads", "1"])
        XCTAssertEqual(resume.status, 0, resume.stderr)
        XCTAssertEqual(try parse(box.path("curves.svg")).curves["accuracy validation"], 5)
        assertFailure(try runTool("mnist-train", ["--config", box.config.path, "--data", box.data.path, "--output", box.path("q.ckpt"),
                                                  "--plot", "/nonexistent/dir/c.svg"]), status: 73, "/nonexistent/dir/c.svg: cannot write the plot")
    }

    func testTheTitleIsEscaped() {
        XCTAssertEqual(trainingCurvesSVG([], title: "a<b").contains("a&lt;b"), true)
    }
}
