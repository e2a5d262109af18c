// swift-tools-version:6.0
// camkit: class activation maps and weakly supervised localization, natively.
// The C kernels live in CSources/ with their header in include/; the
// pipeline is Swift. System libraries are found through pkg-config, so this
// manifest needs no unsafe flags and other packages can depend on it; the
// Makefile adds what a self-contained libcam.so needs.
import PackageDescription

let package = Package(
    name: "camkit",
    products: [
        .library(name: "CAMKit", targets: ["CAMKit"]),
        // libcam.so's objects; the Makefile links the shipped libcam.so.1 from
        // them (static Swift runtime, SONAME, only cam_* exported).
        .library(name: "cam", type: .dynamic, targets: ["CAMLib"]),
        .executable(name: "camkit", targets: ["camkit"]),
        .executable(name: "camkit-demo-data", targets: ["camkit-demo-data"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenBLAS",
            path: "Sources/COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .systemLibrary(
            name: "CPNG",
            path: "Sources/CPNG",
            pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"])]
        ),
        .systemLibrary(
            name: "CJPEG",
            path: "Sources/CJPEG",
            pkgConfig: "libjpeg",
            providers: [.apt(["libjpeg62-turbo-dev"])]
        ),
        .target(
            name: "CCAMKernels",
            dependencies: ["COpenBLAS", "CPNG", "CJPEG"],
            path: ".",
            sources: ["CSources"],
            publicHeadersPath: "include",
            linkerSettings: [.linkedLibrary("m")]
        ),
        .target(
            name: "CAMKit",
            dependencies: [
                "CCAMKernels",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            path: "Sources/CAMKit"
        ),
        .target(
            name: "CAMLib",
            dependencies: ["CAMKit", "CCAMKernels"],
            path: "Sources/CAMLib"
        ),
        .executableTarget(
            name: "camkit",
            dependencies: [
                "CAMKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/camkit"
        ),
        .executableTarget(
            name: "camkit-demo-data",
            dependencies: ["CCAMKernels"],
            path: "Sources/camkit-demo-data"
        ),
        .testTarget(
            name: "CAMKitTests",
            dependencies: ["CAMKit", "CCAMKernels"],
            path: "Tests/CAMKitTests"
        ),
    ]
)
