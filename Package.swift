// swift-tools-version: 6.1
//
// mmfuzz: a kernel-patch prototype for in-place mmu_gather and per-page-table
// locks, as kernel-style C on a simulated machine, checked from Swift.

import PackageDescription

/// Flags shared by every C target that compiles kernel code: the kernel's
/// dialect, warnings as errors, the user-space shim force-included, and
/// DWARF 4 so valgrind can read the debug info.
let kernelCFlags: [String] = [
    "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter",
    "-Wno-sign-compare", "-Wno-missing-field-initializers", "-Werror",
    "-fno-strict-aliasing", "-include", "linux/kcompat.h", "-gdwarf-4",
]

let package = Package(
    name: "mmfuzz",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "mmfuzz", targets: ["mmfuzz"]),
        .library(name: "MMSim", targets: ["MMSim"]),
        // The libFuzzer target: `swift build -c release --sanitize=fuzzer
        // --sanitize=address --product mmfuzz-libfuzzer` (fuzz/README.md).
        .executable(name: "mmfuzz-libfuzzer", targets: ["mmfuzz-libfuzzer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
    ],
    targets: [
        // The kernel and the simulated hardware, laid out like the kernel
        // tree.  Only include/uapi/mmsim.h is visible to Swift.
        .target(
            name: "CMMSim",
            path: "CSources",
            exclude: [],
            publicHeadersPath: "include/uapi",
            cSettings: [
                .headerSearchPath("include"),
                .headerSearchPath("arch/x86/include"),
                .headerSearchPath("tools/include"),
                .unsafeFlags(kernelCFlags),
            ]
        ),
        // The operation vocabulary: what a task asks of the kernel (a
        // request and its typed arguments), what comes back, the errno
        // values; pure Swift, shared by the model, the wrapper and the
        // engine.
        .target(name: "MMCall"),
        // The safe Swift face of the C machine.
        .target(
            name: "MMSim",
            dependencies: ["CMMSim", "MMCall"]
        ),
        // The reference model: pure Swift, knows nothing of the C machine.
        .target(name: "MMModel", dependencies: ["MMCall"]),
        // liblzma from the system (xz-utils; Debian's liblzma-dev), for
        // reading xz-compressed traces as a stream.
        .systemLibrary(
            name: "CLzma",
            path: "Sources/CLzma",
            pkgConfig: "liblzma",
            providers: [.apt(["liblzma-dev"])]
        ),
        // The native harness (issue 14): a child process that makes real
        // system calls and user accesses inside an arena of its own, driven
        // by the engine over a socket pair.  Not kernel code: plain C for
        // the host, kept out of CSources (the simulated kernel).
        .target(
            name: "CNative",
            path: "Sources/CNative",
            cSettings: [
                .define("_GNU_SOURCE"),
                .unsafeFlags(["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Werror",
                              "-gdwarf-4"]),
            ]
        ),
        // The LLVM profile counters of a build instrumented for coverage
        // (scripts/coverage), read in place for `mmfuzz run
        // --coverage-corpus`; none in an ordinary build (the runtime's
        // symbols are weak).  Host C, like CNative: not kernel code.
        .target(
            name: "CCoverage",
            path: "Sources/CCoverage",
            cSettings: [
                .unsafeFlags(["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-gdwarf-4"]),
            ]
        ),
        // The fuzzing engine: generates operations, runs them on a Machine
        // and the model side by side, shrinks failures, writes reproducers;
        // and the trace replayer (Trace/).
        .target(
            name: "MMFuzz",
            dependencies: ["MMCall", "MMSim", "MMModel", "CLzma", "CNative", "CCoverage"]
        ),
        // The command-line tool.
        .executableTarget(
            name: "mmfuzz",
            dependencies: [
                "MMSim",
                "MMModel",
                "MMFuzz",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The libFuzzer target: bytes decode into a case (ByteCase), run
        // against the model; any failure aborts.  Its C part is a weak
        // main() that runs input files when libFuzzer is not linked in.
        .executableTarget(
            name: "mmfuzz-libfuzzer",
            dependencies: ["MMFuzz", "CFuzzStandalone"],
            // No Swift main(): libFuzzer's, or else CFuzzStandalone's.
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
        .target(
            name: "CFuzzStandalone",
            cSettings: [.unsafeFlags(["-std=gnu11", "-Wall", "-Wextra", "-Werror"])]
        ),
        // C entry points that break the kernel on purpose, so the tests can
        // prove that every checker fires.  Linked into the tests only.
        .target(
            name: "CMMSimTestHooks",
            dependencies: ["CMMSim"],
            path: "Tests/CMMSimTestHooks",
            cSettings: [
                .headerSearchPath("../../CSources/include"),
                .headerSearchPath("../../CSources/arch/x86/include"),
                .headerSearchPath("../../CSources/tools/include"),
                .unsafeFlags(kernelCFlags),
            ]
        ),
        .testTarget(
            name: "MMSimTests",
            dependencies: ["MMSim", "MMCall", "CMMSim", "CMMSimTestHooks"]
        ),
        .testTarget(
            name: "MMModelTests",
            dependencies: ["MMModel"]
        ),
        .testTarget(
            name: "MMFuzzTests",
            dependencies: [
                "MMFuzz", "MMModel", "MMSim",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            resources: [.copy("Regressions"), .copy("TraceSnippets")]
        ),
        // The command-line tool as a user meets it: the built `mmfuzz`
        // binary run as a child process (exit statuses, standard input,
        // signals).  The dependency makes `swift test` build the binary.
        .testTarget(
            name: "MMFuzzCLITests",
            dependencies: ["mmfuzz", "MMFuzz", "MMSim"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
