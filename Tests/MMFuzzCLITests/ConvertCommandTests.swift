import Foundation
import Testing

/// `mmfuzz convert` and `mmfuzz replay --bytes`: the libFuzzer target's
/// inputs and reproducers, both ways (issue 15).
@Suite struct ConvertCommandTests {
    static let kept = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../mutants/reproducers/28-zap-remove-rmap-before-flush.json").standardized.path

    static func ops(_ json: String) throws -> [Any]? {
        (try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])?["ops"] as? [Any]
    }

    @Test func aReproducerGoesToBytesAndBack() throws {
        let dir = try scratchDirectory()
        defer { removeScratch(dir) }
        let toBytes = try mmfuzz("convert", "--to-bytes", Self.kept, "-o", dir + "/corpus")
        #expect(toBytes.status == 0, "\(toBytes)")
        let input = dir + "/corpus/28-zap-remove-rmap-before-flush.bin"
        #expect(FileManager.default.fileExists(atPath: input))

        let replayed = try mmfuzz("replay", "--bytes", input)
        #expect(replayed.status == 0, "\(replayed)")
        #expect(replayed.stdout.contains("passes"), "\(replayed)")

        let back = try mmfuzz("convert", input, "-o", dir + "/back.json")
        #expect(back.status == 0, "\(back)")
        #expect(back.stdout.contains("passes"), "\(back)")
        let original = try String(contentsOfFile: Self.kept, encoding: .utf8)
        let converted = try String(contentsOfFile: dir + "/back.json", encoding: .utf8)
        #expect(try Self.ops(original)?.count == Self.ops(converted)?.count)
        #expect(try mmfuzz("replay", dir + "/back.json").status == 0)

        // To standard output, without -o.
        let stdout = try mmfuzz("convert", input)
        #expect(stdout.status == 0 && stdout.stdout == converted, "\(stdout)")
        // A directory of inputs.
        let all = try mmfuzz("replay", "--bytes", dir + "/corpus")
        #expect(all.status == 0 && all.stdout.contains("replayed 1 cases"), "\(all)")
    }

    @Test func badInputIsAUsageError() throws {
        let dir = try scratchDirectory()
        defer { removeScratch(dir) }
        #expect(try mmfuzz("convert", dir + "/missing").status == 2)
        #expect(try mmfuzz("convert", dir).status == 2)
        #expect(try mmfuzz("convert", "--to-bytes", Self.kept).status == 2)
        #expect(try mmfuzz("convert", "a", "b").status == 2)
        try Data("{}".utf8).write(to: URL(fileURLWithPath: dir + "/not.json"))
        let r = try mmfuzz("convert", "--to-bytes", dir + "/not.json", "-o", dir + "/out")
        #expect(r.status == 2 && r.stderr.contains("not a reproducer"), "\(r)")
        #expect(try mmfuzz("replay", "--bytes", dir + "/missing").status == 2)
    }
}
