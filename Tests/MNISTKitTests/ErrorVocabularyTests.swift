import Foundation
import MNISTKit
import XCTest

/// Every public error type of the library says its category, so a command's
/// exit status is a lookup, and a new error type cannot fall through to 70.
final class ErrorVocabularyTests: XCTestCase {
    func testEveryPublicErrorTypeHasACategory() throws {
        let sources = packageRoot.appendingPathComponent("Sources/MNISTKit")
        var declared = Set<String>(), categorised = Set<String>()
        let declaration = try NSRegularExpression(pattern: #"public (?:final )?(?:struct|enum|class) (\w+)[^{\n]*:[^{\n]*\bError\b"#)
        let conformance = try NSRegularExpression(pattern: #"extension (?:\w+\.)*(\w+): MNISTKitError"#)
        let enumerator = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)!
        for case let url as URL in enumerator where url.pathExtension == "swift" && !url.path.contains("/Generated/") {
            let text = try String(contentsOf: url, encoding: .utf8)
            let range = NSRange(text.startIndex..., in: text)
            for match in declaration.matches(in: text, range: range) { declared.insert(String(text[Range(match.range(at: 1), in: text)!])) }
            for match in conformance.matches(in: text, range: range) { categorised.insert(String(text[Range(match.range(at: 1), in: text)!])) }
        }
        XCTAssertGreaterThanOrEqual(declared.count, 12, "the scan finds the library's error types")
        XCTAssertEqual(declared.subtracting(categorised).sorted(), [], "public error types without an ErrorCategory (Errors.swift)")
    }

    func testCategoriesOfTypicalErrors() {
        XCTAssertEqual(ConfigError(path: "x", message: "m", isMissingFile: true).category, .missingFile)
        XCTAssertEqual(ConfigError(path: "x", message: "m").category, .badInput)
        XCTAssertEqual(IDXError.unreadable(path: "p", .notFound).category, .missingFile)
        XCTAssertEqual(IDXError.unreadable(path: "p", .isDirectory).category, .badInput)
        XCTAssertEqual(DatasetError.notFound(name: "n", searched: []).category, .missingFile)
        XCTAssertEqual(CheckpointError(path: "p", message: "m", kind: .cannotWrite).category, .cannotWrite)
        XCTAssertEqual(OutputPathProblem.isFolder(path: "p").category, .usage)
        XCTAssertEqual(ImageError(path: "p", problem: .file(.notFound)).category, .missingFile)
        XCTAssertEqual(TrainingError.diverged(epoch: 1, batch: 1, loss: .nan).category, .diverged)
        XCTAssertEqual(TrainingError.stopped(epoch: 1, batch: 1).category, .interrupted)
    }
}
