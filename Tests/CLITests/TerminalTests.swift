import Foundation
import XCTest

/// mnist-train on a pseudo-terminal, as a person at a terminal sees it.
final class TerminalTests: XCTestCase {
    /// Runs a tool with its stdout and stderr on a new pseudo-terminal of
    /// `columns` columns (0: a terminal that does not know its size); returns
    /// everything the tool wrote.
    func runOnTerminal(_ tool: String, _ arguments: [String], columns: Int, environment: [String: String] = [:]) throws -> String {
        // posix_openpt and friends are not in Swift's Glibc module: open the
        // multiplexer, unlock the new terminal and ask its number (Linux's
        // TIOCSPTLCK and TIOCGPTN, _IOW/_IOR('T', 0x31/0x30, int)).
        let master = open("/dev/ptmx", O_RDWR | O_NOCTTY)
        var unlock: Int32 = 0, number: UInt32 = 0
        guard master >= 0, ioctl(master, UInt(0x4004_5431), &unlock) == 0, ioctl(master, UInt(0x8004_5430), &number) == 0 else {
            throw POSIXError(.ENOTTY)
        }
        defer { close(master) }
        let name = "/dev/pts/\(number)"
        var size = winsize(ws_row: 24, ws_col: UInt16(columns), ws_xpixel: 0, ws_ypixel: 0)
        _ = ioctl(master, UInt(TIOCSWINSZ), &size)
        var environment = environment
        if environment["COLUMNS"] == nil { environment["COLUMNS"] = "" } // the terminal's own size, not the test runner's
        let pid = try spawn([productsDirectory.appendingPathComponent(tool).path] + arguments, environment: environment, stdout: name, stderr: nil)
        var output = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        // The tool's writes block when nobody reads; read until its side closes (EIO).
        while true {
            let count = read(master, &buffer, buffer.count)
            if count <= 0 { break }
            output += buffer[..<count]
        }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        XCTAssertEqual(status, 0, String(decoding: output, as: UTF8.self))
        return String(decoding: output, as: UTF8.self)
    }

    /// Every redraw of the progress line fits the terminal (a wrapped line
    /// cannot be redrawn in place and would leave a stale line behind).
    func testProgressLineFitsTheTerminal() throws {
        let box = try Sandbox(configText: Sandbox.config(epochs: 2).replacingOccurrences(of: #""batch_size": 32"#, with: #""batch_size": 4"#))
        let arguments = ["--config", box.config.path, "--data", box.data.path, "--output", box.path("model.ckpt"), "--threads", "1"]
        for (columns, environment, width) in [(60, [String: String](), 60), (80, [:], 80), (150, [:], 150), (0, ["COLUMNS": "72"], 72), (0, [:], 80)] {
            let screen = try runOnTerminal("mnist-train", arguments, columns: columns, environment: environment)
            // Progress redraws: "\r" + line + erase-to-end-of-line, no newline.
            let redraws = screen.components(separatedBy: "\r").map { $0.replacingOccurrences(of: "\u{1B}[K", with: "") }
                .filter { $0.contains("ETA") }.map { $0.components(separatedBy: "\n")[0] }
            XCTAssertGreaterThanOrEqual(redraws.count, 2, screen) // at least each epoch's last batch
            for line in redraws { XCTAssertLessThan(line.count, width, "\(width) columns: \(line)") }
            // The bar gives way first: the line without it has 59 characters here, so
            // it is gone at 60 columns, 9 wide at 72, 17 at 80 and whole (30) at 150.
            let bar = redraws.last!.components(separatedBy: "[").dropFirst().first?.components(separatedBy: "]").first ?? ""
            XCTAssertEqual(bar.count, width - 63 < 5 ? 0 : min(width - 63, 30), "\(width) columns: \(redraws.last!)")
            XCTAssertTrue(screen.contains("test_accuracy: "), screen)
        }
    }
}
