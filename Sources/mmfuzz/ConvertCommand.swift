import ArgumentParser
import Foundation
import MMFuzz

/// `mmfuzz convert`: between the libFuzzer target's inputs (bytes) and
/// reproducers (JSON).
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Turn a libFuzzer input into a reproducer, or reproducers into libFuzzer inputs.",
        discussion: """
            `mmfuzz convert CRASH` decodes an input of the libFuzzer \
            target mmfuzz-libfuzzer (a crash-<sha1> file it saved, or any \
            corpus file) as the target decodes it, runs the case to record \
            its failure, and writes the reproducer (JSON) to --output, or \
            to standard output. `mmfuzz replay`, `mmfuzz minimize` and \
            `mmfuzz replay --native` then take it.

            `mmfuzz convert --to-bytes FILE|DIR... --output DIR` writes \
            each reproducer as a libFuzzer input named NAME.bin (a seed \
            corpus: the target decodes it to the same case).

            Exit status: 0 when everything converted; 2 for bad input (an \
            unreadable file, not a reproducer, a case the byte format \
            cannot hold).
            """
    )

    @Argument(help: "A libFuzzer input; with --to-bytes, reproducers or directories of them.")
    var inputs: [String]

    @Option(name: .shortAndLong, help: "Where to write: a file (default: standard output); with --to-bytes, a directory.")
    var output: String?

    @Flag(help: "Reproducers to libFuzzer inputs.")
    var toBytes = false

    mutating func validate() throws {
        if inputs.isEmpty { throw ValidationError("name an input") }
        if toBytes, output == nil { throw ValidationError("--to-bytes needs --output DIR") }
        if !toBytes, inputs.count > 1 { throw ValidationError("convert one libFuzzer input at a time") }
    }

    func run() throws {
        if toBytes {
            try reproducersToBytes()
            return
        }
        let file = inputs[0]
        let fuzzCase: FuzzCase
        do {
            fuzzCase = try ByteCase.load(path: file)
        } catch {
            printError("mmfuzz convert: \(error.reason)")
            throw ExitCode(2)
        }
        let failure = CaseRunner.run(fuzzCase).failure
        let repro = Reproducer(fuzzCase: fuzzCase, failure: failure)
        if let output {
            do {
                try repro.write(path: output)
            } catch {
                printError("mmfuzz convert: cannot write \(output): \((error as NSError).localizedDescription)")
                throw ExitCode(2)
            }
            print("\(output): \(fuzzCase.variant.name), \(fuzzCase.config.summary), \(fuzzCase.ops.count) ops, "
                  + (failure.map { "fails: \($0.kind)" } ?? "passes"))
        } else {
            print(repro.encoded(), terminator: "")
        }
    }

    func reproducersToBytes() throws {
        // (name, reproducer) for every input: a directory's reproducers
        // as a corpus holds them, by name.
        var reproducers: [(name: String, reproducer: Reproducer)] = []
        do {
            for input in inputs {
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: input, isDirectory: &isDirectory), isDirectory.boolValue {
                    reproducers += try Corpus(directory: input).entries()
                } else {
                    reproducers.append(((input as NSString).lastPathComponent, try Reproducer.load(path: input)))
                }
            }
        } catch {
            printError("mmfuzz convert: \(error.reason)")
            throw ExitCode(2)
        }
        let out = output!
        do {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        } catch {
            printError("mmfuzz convert: cannot make \(out): \((error as NSError).localizedDescription)")
            throw ExitCode(2)
        }
        for (name, repro) in reproducers {
            let bytes: [UInt8]
            do {
                bytes = try ByteCase.encode(try repro.fuzzCase())
            } catch let error as ByteCaseError {
                printError("mmfuzz convert: \(name): \(error.reason)")
                throw ExitCode(2)
            } catch {
                printError("mmfuzz convert: \(name): \(error)")
                throw ExitCode(2)
            }
            let path = (out as NSString).appendingPathComponent((name as NSString).deletingPathExtension + ".bin")
            do {
                try Data(bytes).write(to: URL(fileURLWithPath: path))
            } catch {
                printError("mmfuzz convert: cannot write \(path): \((error as NSError).localizedDescription)")
                throw ExitCode(2)
            }
        }
        print("wrote \(reproducers.count) libFuzzer inputs to \(out)")
    }
}
