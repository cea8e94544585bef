import Foundation
import MNISTKit
import XCTest

/// Tools that `make` built for the machine's x86-64 level refuse an older
/// processor with one error line and exit 69, before any instruction of that
/// level runs: under qemu's user-mode emulation of a processor without AVX
/// (qemu64), and run as on a processor that has it (Haswell).
final class CPUCheckTests: XCTestCase {
    func testToolsBuiltForNewerProcessorsRefuseOlderOnes() throws {
        guard !BuildTarget.requiredCPU.isEmpty else {
            throw XCTSkip("built for baseline x86-64 (`make` builds for the machine's level; plain `swift build` does not)")
        }
        guard try runProcess(["sh", "-c", "command -v qemu-x86_64"]).status == 0 else {
            throw XCTSkip("qemu-x86_64 is not installed (`make setup` installs Debian's qemu-user)")
        }
        for tool in ["mnist-train", "mnist-eval"] {
            let path = productsDirectory.appendingPathComponent(tool).path
            let old = try runProcess(["qemu-x86_64", "-cpu", "qemu64", path, "--version"])
            XCTAssertEqual(old.status, 69, old.output)
            // One line, naming the executable (as /proc/self/exe resolves it) and what it needs.
            XCTAssertTrue(old.output.hasPrefix("error: /") && old.output.hasSuffix("/\(tool): built for \(BuildTarget.requiredCPU) processors, and this one is not one; rebuild it here with `make build` (or `make build TARGET_CPU=x86-64` for any x86-64)\n"), old.output)
            XCTAssertEqual(old.output.filter { $0 == "\n" }.count, 1, old.output)
            // The same binary on an emulated processor of its level starts (qemu warns about features TCG lacks).
            let level = BuildTarget.requiredCPU.hasPrefix("x86-64-v4") ? "Skylake-Server" : "Haswell"
            let new = try runProcess(["qemu-x86_64", "-cpu", level, path, "--version"], keepErrors: false)
            XCTAssertEqual(new.status, 0, new.output)
            XCTAssertEqual(new.output, toolVersion + "\n")
        }
    }
}
