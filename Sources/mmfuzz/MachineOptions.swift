import ArgumentParser
import MMSim

/// One `--variant` argument: a spec, or `all`.
enum VariantSelection: Equatable {
    /// Every combination the kernel runs (``Variant/allCombinations``).
    case all
    case one(Variant)

    static func parse(_ argument: String) throws -> VariantSelection {
        if argument.lowercased() == "all" {
            return .all
        }
        if let v = Variant(name: argument) {
            return .one(v)
        }
        do {
            return .one(try Variant(parsing: argument))
        } catch {
            throw ValidationError(error.reason)
        }
    }
}

/// The machine to simulate, shared by every subcommand.
struct MachineOptions: ParsableArguments {
    @Option(
        name: .customLong("variant"),
        help: ArgumentHelp(
            "A kernel variant: its short name GATHER/PTL/PREEMPT[/share|/share-precise] (vector/mm/nopreempt, inplace/split/preempt/share, ...), a spec gather=vector|inplace,ptl=mm|split,preempt=on|off,share=off|fork,sharemask=all|precise (keys in any order, missing ones from the baseline gather=vector,ptl=mm,preempt=off,share=off,sharemask=all; share=fork needs ptl=split), or 'all' (the 16 combinations). Repeatable. Default: for run and bench, every variant the simulator accepts; for scenario, the baseline with preempt on and off.",
            valueName: "spec"),
        transform: VariantSelection.parse)
    var selections: [VariantSelection] = []

    @Option(help: "Simulated CPUs (1 to \(Machine.maxCPUs)).")
    var cpus: Int = 4

    @Option(help: "Physical page frames, \(Self.frameLimits.lowerBound) to \(Self.frameLimits.upperBound) (default: the simulator's own, \(MachineConfig.default.frames)); a workload that needs more says so.")
    var frames: Int?

    /// What the machine accepts (`check_config()` in
    /// CSources/arch/x86/sim/machine.c).
    static let frameLimits = 16 ... 1 << 22

    mutating func validate() throws {
        guard (1...Machine.maxCPUs).contains(cpus) else {
            throw ValidationError("--cpus must be between 1 and \(Machine.maxCPUs), not \(cpus)")
        }
        if let frames, !Self.frameLimits.contains(frames) {
            throw ValidationError("--frames must be between \(Self.frameLimits.lowerBound) and \(Self.frameLimits.upperBound), not \(frames)")
        }
        // A variant named on its own (or a default one) must run; `all`
        // skips what the simulator refuses.
        for variant in namedVariants {
            do {
                _ = try Machine(config(for: variant))
            } catch {
                throw ValidationError("cannot run \(variant.name) with \(hardware): \(error)")
            }
        }
    }

    /// `4 CPUs, 4096 frames`.
    var hardware: String {
        "\(cpus) CPUs, \(frames ?? MachineConfig.default.frames) frames"
    }

    /// Whether `all` was asked for: variants the simulator refuses are then
    /// skipped instead of being errors.
    var includesAll: Bool {
        selections.contains(.all)
    }

    /// The variants run when no `--variant` is given.
    static let defaultVariants = [
        Variant(gather: .vector, ptl: .mm, preempt: true),
        Variant(gather: .vector, ptl: .mm, preempt: false),
    ]

    /// The variants asked for by name, not through `all` nor by default
    /// (a command's defaults are its own to check).
    private var namedVariants: [Variant] {
        selections.compactMap { selection in
            if case .one(let v) = selection { v } else { nil }
        }
    }

    /// The variants to run, in the order given, without repeats.
    var variants: [Variant] {
        let requested = selections.isEmpty ? Self.defaultVariants : selections.flatMap { selection in
            switch selection {
            case .all: Variant.allCombinations
            case .one(let v): [v]
            }
        }
        var seen: Set<Variant> = []
        return requested.filter { seen.insert($0).inserted }
    }

    /// The configuration for one variant.
    func config(for variant: Variant) -> MachineConfig {
        .default(cpus: cpus, frames: frames, variant: variant)
    }
}
