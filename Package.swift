// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "mnist-train",
    products: [
        .executable(name: "mnist-train", targets: ["mnist-train"]),
        .executable(name: "mnist-eval", targets: ["mnist-eval"]),
        .executable(name: "mnist-export", targets: ["mnist-export"]),
        .executable(name: "mnist-predict", targets: ["mnist-predict"]),
        .library(name: "MNISTKit", targets: ["MNISTKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // OpenBLAS' CBLAS interface; only Tensor/GEMM.swift imports it.
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        // zlib for gzip-compressed IDX files and CRC-32; only Data/Zlib.swift imports it.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        // An errno-free square root, so the optimizer loops vectorise; only NN/Optimizers.swift imports it.
        .systemLibrary(name: "CFloatMath", path: "Sources/CFloatMath"),
        // libpng for reading and writing pictures; only Imaging/PNG.swift imports it.
        .systemLibrary(name: "CPNG", path: "Sources/CPNG"),
        .target(name: "MNISTKit", dependencies: ["CBLAS", "CZlib", "CFloatMath", "CPNG"]),
        // Terminal-facing helpers shared by the two commands: the library never prints.
        .target(
            name: "CLISupport",
            dependencies: ["MNISTKit", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(
            name: "mnist-train",
            dependencies: ["MNISTKit", "CLISupport", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(
            name: "mnist-bench",
            dependencies: ["MNISTKit", "CLISupport", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(
            name: "mnist-eval",
            dependencies: ["MNISTKit", "CLISupport", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(
            name: "mnist-export",
            dependencies: ["MNISTKit", "CLISupport", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(
            name: "mnist-predict",
            dependencies: ["MNISTKit", "CLISupport", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // Fixtures (synthetic datasets, gzip) that both test targets build for themselves.
        .target(name: "TestFixtures", dependencies: ["MNISTKit", "CZlib"], path: "Tests/TestFixtures"),
        .testTarget(name: "MNISTKitTests", dependencies: ["MNISTKit", "TestFixtures"]),
        .testTarget(name: "CLITests", dependencies: ["MNISTKit", "CLISupport", "TestFixtures"]),
    ]
)
