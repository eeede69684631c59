import MMModel
import MMSim

/// The hardware of one case: part of the case (and of its reproducer),
/// because the generator sometimes picks a small machine to reach
/// out-of-memory paths, or one CPU to reach the gather's fast mode.
public struct CaseConfig: Codable, Hashable, Sendable {
    public var cpus: Int
    public var frames: Int
    /// TLB entries per CPU.
    public var tlb: Int
    /// Paging-structure-cache entries per CPU.
    public var psc: Int

    public init(cpus: Int, frames: Int, tlb: Int = MachineConfig.default.tlbEntries,
                psc: Int = MachineConfig.default.pscEntries) {
        self.cpus = cpus
        self.frames = frames
        self.tlb = tlb
        self.psc = psc
    }

    /// The machine configuration for `variant`.
    public func machineConfig(_ variant: Variant) -> MachineConfig {
        MachineConfig(cpus: cpus, frames: frames, tlbEntries: tlb, pscEntries: psc,
                      gather: variant.gather, ptl: variant.ptl, preempt: variant.preempt,
                      share: variant.share, sharemask: variant.sharemask)
    }

    /// `4 CPUs, 4096 frames, TLB 64, PSC 16`.
    public var summary: String {
        "\(cpus) CPUs, \(frames) frames, TLB \(tlb), PSC \(psc)"
    }
}

/// One generated (or shrunk, or loaded) case: everything needed to run it
/// again exactly.
public struct FuzzCase: Hashable, Sendable {
    public var config: CaseConfig
    public var variant: Variant
    /// The seed it was generated from (informational once shrunk).
    public var seed: UInt64
    public var ops: [Op]

    public init(config: CaseConfig, variant: Variant, seed: UInt64, ops: [Op]) {
        self.config = config
        self.variant = variant
        self.seed = seed
        self.ops = ops
    }
}

/// What went wrong in a case.
public struct Failure: Error, Hashable, Sendable, Codable, CustomStringConvertible {
    /// The class of failure, compared while shrinking: `divergence`,
    /// `violation:<kind>` (such as `violation:free-while-cached`), or
    /// `state:<aspect>` (a checkpoint found the machine's state differing
    /// from the model's: `mappings`, `counters`, `page`, `frames`,
    /// `user-pages`, `live`).
    public var kind: String
    public var message: String
    /// Index into the case's ops of the op during which it was found, or
    /// nil when found at the end of the case.
    public var opIndex: Int?

    public init(kind: String, message: String, opIndex: Int? = nil) {
        self.kind = kind
        self.message = message
        self.opIndex = opIndex
    }

    public var description: String { "\(kind): \(message)" }

    /// The kind of a violation failure.
    public static func violationKind(_ v: Violation.Kind) -> String {
        "violation:\(v)"
    }
}
