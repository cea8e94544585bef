import Foundation
import MNISTKit
import TestFixtures
import XCTest

/// A short, deterministic mutation-fuzzing pass over the four parsers, run by
/// `make test` (`make fuzz` runs libFuzzer on the same entry points for longer).
/// Every mutated input must parse or fail with the parser's own error naming
/// its file: a crash, a hang or a runaway allocation fails the run.
final class MutationFuzzTests: XCTestCase {
    static let inputsPerParser = 5000

    func seeds(_ kind: String) throws -> [[UInt8]] {
        let folder = packageRoot.appendingPathComponent("Tests/Fuzz/corpus/\(kind)")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        return try names.map { Array(try Data(contentsOf: folder.appendingPathComponent($0))) }
    }

    func testIDXReader() throws {
        let corpus = try seeds("idx")
        var mutator = Mutator(seed: 1, corpus: corpus)
        var outcomes = [String: Int]()
        for _ in 0 ..< Self.inputsPerParser {
            var input = mutator.mutated()
            // Half the time, mutate the decompressed IDX and compress it again, so the
            // damage reaches the IDX layer behind a valid gzip stream.
            if mutator.coin(), let raw = try? IDX.decode(bytes: input, name: "seed") {
                let rebuilt = IDX.encode(elementType: raw.elementType, dimensions: raw.dimensions, payload: raw.payload)
                input = gzip(mutator.mutate(rebuilt))
            }
            do {
                let array = try IDX.decode(bytes: input, name: "fuzz.idx")
                XCTAssertEqual(array.payload.count, array.elementCount * array.elementType.size)
                outcomes["ok", default: 0] += 1
            } catch {
                XCTAssertTrue(error.description.hasPrefix("fuzz.idx: "), error.description)
                outcomes[String(describing: error).components(separatedBy: ":").dropFirst().first ?? "", default: 0] += 1
            }
        }
        report("IDX", outcomes)
    }

    func testImageReaders() throws {
        var mutator = Mutator(seed: 4, corpus: try seeds("image"))
        var outcomes = [String: Int]()
        for _ in 0 ..< Self.inputsPerParser {
            var input = mutator.mutated()
            // Half the time, give every PNG chunk its right CRC again, so the damage reaches libpng.
            if mutator.coin() { input = withPNGChecksumsRepaired(input) }
            do {
                let image = try RGBAImage.decode(input)
                XCTAssertEqual(image.pixels.count, image.width * image.height * 4)
                if let field = try? ImagePreprocessing.mnistStyle(image) {
                    XCTAssertTrue(field.count == 784 && field.allSatisfy { $0 >= 0 && $0 <= 1 })
                }
                outcomes["ok", default: 0] += 1
            } catch {
                outcomes[String(describing: error).components(separatedBy: ":").first ?? "", default: 0] += 1
            }
        }
        report("image", outcomes)
    }

    /// Recomputes the CRC-32 of each whole chunk after the PNG signature.
    func withPNGChecksumsRepaired(_ input: [UInt8]) -> [UInt8] {
        guard input.starts(with: [0x89, 0x50, 0x4E, 0x47]) else { return input }
        var bytes = input, position = 8
        while bytes.count - position >= 12 {
            let length = bytes[position ..< position + 4].reduce(0) { $0 << 8 | Int($1) }
            guard length <= bytes.count - position - 12 else { break }
            let body = Array(bytes[position + 4 ..< position + 8 + length])
            bytes.replaceSubrange(position + 8 + length ..< position + 12 + length, with: PNGFixture.bigEndian(Int(PNGFixture.crc(body))))
            position += 12 + length
        }
        return bytes
    }

    func testModelSpecParser() throws {
        var mutator = Mutator(seed: 2, corpus: try seeds("spec"))
        var outcomes = [String: Int]()
        for _ in 0 ..< Self.inputsPerParser {
            // Half byte-level damage, half well-formed JSON with a value swapped out.
            var input = mutator.mutated()
            if mutator.coin(), let json = try? JSONParser.parse(mutator.corpus[mutator.generator.nextIndex(below: mutator.corpus.count)]) {
                input = Array(mutator.mutateValues(json).serialized.utf8)
            }
            do {
                let spec = try ModelSpec.parse(input)
                XCTAssertEqual(try ModelSpec.parse(spec.json.serialized), spec, "resolved spec does not round-trip")
                do {
                    _ = try Model(spec: spec)
                    outcomes["ok", default: 0] += 1
                } catch {
                    XCTAssertTrue(error.path.hasPrefix("layers"), error.description)
                    outcomes["shape error", default: 0] += 1
                }
            } catch {
                outcomes[error.path.isEmpty ? "syntax" : "spec error", default: 0] += 1
            }
        }
        report("spec", outcomes)
    }

    func testCheckpointReader() throws {
        var mutator = Mutator(seed: 3, corpus: try seeds("checkpoint"))
        var outcomes = [String: Int]()
        for _ in 0 ..< Self.inputsPerParser {
            do {
                let checkpoint = try Checkpoint.decode(mutator.mutated(), path: "fuzz.ckpt")
                _ = try checkpoint.restore(path: "fuzz.ckpt")
                outcomes["ok", default: 0] += 1
            } catch {
                XCTAssertTrue(error.description.hasPrefix("fuzz.ckpt: "), error.description)
                outcomes[String(error.message.prefix(24)), default: 0] += 1
            }
        }
        report("checkpoint", outcomes)
    }

    func report(_ parser: String, _ outcomes: [String: Int], file: StaticString = #filePath, line: UInt = #line) {
        print("mutation fuzz \(parser): \(outcomes.values.reduce(0, +)) inputs: \(outcomes.sorted { $0.value > $1.value }.prefix(8))")
        XCTAssertGreaterThan(outcomes["ok"] ?? 0, 0, "no mutated input was accepted: the mutations are too blunt", file: file, line: line)
        XCTAssertGreaterThan(outcomes.count, 3, "too few kinds of outcome: the mutations are too mild", file: file, line: line)
    }
}

/// Bit flips, interesting bytes, huge integers, truncations, splices, duplicated and deleted ranges.
struct Mutator {
    var generator: RandomGenerator
    let corpus: [[UInt8]]

    init(seed: UInt64, corpus: [[UInt8]]) {
        generator = RandomGenerator(seed: seed)
        self.corpus = corpus
    }

    mutating func coin() -> Bool { generator.nextIndex(below: 2) == 0 }

    mutating func mutated() -> [UInt8] {
        mutate(corpus[generator.nextIndex(below: corpus.count)])
    }

    /// Replaces one value somewhere in the document, or adds or drops a key.
    mutating func mutateValues(_ value: JSONValue) -> JSONValue {
        let replacements: [JSONValue] = [.number(-1), .number(0), .number(0.5), .number(1e15), .number(65536), .number(1e-300),
                                         .string("relux"), .string(""), .bool(true), .null, .array([]), .object([])]
        switch value {
        case let .object(members) where !members.isEmpty && generator.nextIndex(below: 4) > 0:
            var members = members
            let index = generator.nextIndex(below: members.count)
            switch generator.nextIndex(below: 6) {
            case 0: members.remove(at: index)
            case 1: members.append(("unexpected_key", .number(1)))
            default: members[index].value = mutateValues(members[index].value)
            }
            return .object(members)
        case let .array(items) where !items.isEmpty && generator.nextIndex(below: 4) > 0:
            var items = items
            let index = generator.nextIndex(below: items.count)
            if generator.nextIndex(below: 5) == 0 { items.append(items[index]) } else { items[index] = mutateValues(items[index]) }
            return .array(items)
        default:
            return replacements[generator.nextIndex(below: replacements.count)]
        }
    }

    mutating func mutate(_ input: [UInt8]) -> [UInt8] {
        var bytes = input
        for _ in 0 ... generator.nextIndex(below: 3) {
            let position = bytes.isEmpty ? 0 : generator.nextIndex(below: bytes.count)
            switch generator.nextIndex(below: 9) {
            case 0 where !bytes.isEmpty:
                bytes[position] ^= 1 << UInt8(generator.nextIndex(below: 8))
            case 1 where !bytes.isEmpty:
                bytes[position] = [0, 1, 0x7F, 0x80, 0xFF, 0x20, 0x22, 0x2D][generator.nextIndex(below: 8)]
            case 2:
                bytes = Array(bytes.prefix(position))
            case 3:
                let other = corpus[generator.nextIndex(below: corpus.count)]
                let start = other.isEmpty ? 0 : generator.nextIndex(below: other.count)
                bytes = Array(bytes.prefix(position)) + other[start...]
            case 4 where bytes.count >= 8:
                let at = min(position, bytes.count - 8)
                let huge: [UInt8] = [[0xFF, 0xFF, 0xFF, 0xFF], [0x7F, 0xFF, 0xFF, 0xFF], [0x80, 0, 0, 0], [0, 0, 0, 0]][generator.nextIndex(below: 4)]
                bytes.replaceSubrange(at ..< at + 4, with: huge)
            case 5 where !bytes.isEmpty:
                let length = 1 + generator.nextIndex(below: min(64, bytes.count - position))
                bytes.insert(contentsOf: bytes[position ..< position + length], at: position)
            case 6 where !bytes.isEmpty:
                let length = 1 + generator.nextIndex(below: min(64, bytes.count - position))
                bytes.removeSubrange(position ..< position + length)
            case 7:
                let text = ["99999999999999", "-1", "1e308", "0", "\"\"", "[]", "{}", "null", "true", "1.5"][generator.nextIndex(below: 10)]
                bytes.insert(contentsOf: Array(text.utf8), at: position)
            default:
                if let digit = bytes.indices.first(where: { $0 >= position && (0x30 ... 0x39).contains(bytes[$0]) }) {
                    bytes.insert(contentsOf: Array("0000".utf8), at: digit + 1) // numbers grow by 10^4
                }
            }
        }
        return bytes
    }
}
