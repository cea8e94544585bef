// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "mnist-train",
    products: [
        .library(name: "MNISTKit", targets: ["MNISTKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // OpenBLAS' CBLAS interface; only Tensor/GEMM.swift imports it.
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        // zlib for gzip-compressed IDX files; only Data/Inflate.swift imports it.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .target(name: "MNISTKit", dependencies: ["CBLAS", "CZlib"]),
        .testTarget(name: "MNISTKitTests", dependencies: ["MNISTKit", "CZlib"]),
    ]
)
