import Foundation
import Testing

/// `mmfuzz native` on this machine's kernel (issue 14).
@Suite struct NativeCommandTests {
    @Test(.enabled(if: isLinux))
    func aFewCasesAgreeWithTheHostKernel() throws {
        let r = try mmfuzz("native", "--cases", "20", "--json")
        #expect(r.status == 0, "\(r)")
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        #expect(object?["cases"] as? Int == 20, "\(r)")
        #expect((object?["requests"] as? Int ?? 0) > 20, "\(r)")
        #expect((object?["kernel"] as? String ?? "").isEmpty == false, "\(r)")
        #expect((object?["differences"] as? [Any])?.isEmpty == true, "\(r)")
        #expect((object?["config"] as? [String: Any])?["command"] as? String == "native", "\(r)")
        // every deviation of the simulator taken is named and counted
        #expect((object?["adaptations"] as? [String: Int])?["mmap-placement"] ?? 0 > 0, "\(r)")
        // every mm a process: forks made on the host
        #expect((object?["onHost"] as? [String: Int])?["fork"] ?? 0 > 0, "\(r)")
    }

    @Test(.enabled(if: isLinux))
    func aDifferenceIsShrunkSavedAndReplayed() throws {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("mmfuzz-native-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A rule of the model broken on purpose (test-only): stores skewed.
        // Without checkpoints, so that the load that reads a store back
        // finds it (a checkpoint would, by the page's first word).
        let r = try mmfuzz("native", "--cases", "50", "--skew-stores", "--checkpoint-every", "0",
                           "--save", dir, "--json")
        #expect(r.status == 1, "\(r)")
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let found = try #require(object?["found"] as? [String: Any], "\(r)")
        #expect(found["kind"] as? String == "native:load", "\(r)")
        #expect((found["shrunkOps"] as? Int ?? 99) <= 4, "\(r)")
        #expect((found["ops"] as? Int ?? 0) > found["shrunkOps"] as? Int ?? 0, "\(r)")
        let file = try #require(found["reproducer"] as? String)
        #expect(FileManager.default.fileExists(atPath: file))
        let again = try mmfuzz("replay", "--native", "--skew-stores", file)
        #expect(again.status == 1, "\(again)")
        #expect(again.stdout.contains("DIFFERS: native:load"), "\(again)")
        let intact = try mmfuzz("replay", "--native", "--trace", file)
        #expect(intact.status == 0, "\(intact)")
        #expect(intact.stdout.contains("the host agrees with the model"), "\(intact)")
    }

    @Test(.enabled(if: isLinux))
    func minimizeShrinksASavedCaseFurther() throws {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("mmfuzz-minimize-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A difference saved as found, not shrunk.
        let r = try mmfuzz("native", "--cases", "50", "--skew-stores", "--checkpoint-every", "0", "--no-shrink",
                           "--save", dir, "--json")
        #expect(r.status == 1, "\(r)")
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let found = try #require(object?["found"] as? [String: Any], "\(r)")
        let file = try #require(found["reproducer"] as? String)
        #expect((found["shrunkOps"] as? Int ?? 0) > 10, "\(r)")
        let m = try mmfuzz("minimize", "--native", "--skew-stores", "--time", "60", file)
        #expect(m.status == 0, "\(m)")
        #expect(m.stdout.contains("native:load"), "\(m)")
        let small = String(file.dropLast(5)) + ".min.json"
        let text = try String(contentsOfFile: small, encoding: .utf8)
        #expect(text.components(separatedBy: "\"op\"").count - 1 <= 4, "\(text)")
        // With the model's rule intact the case passes: nothing to do.
        let none = try mmfuzz("minimize", "--native", file)
        #expect(none.status == 1, "\(none)")
        #expect(none.stdout.contains("nothing to minimize"), "\(none)")
        #expect(try mmfuzz("minimize", dir + "/missing.json").status == 2)
    }

    @Test func badLimitsAreUsageErrors() throws {
        let r = try mmfuzz("native", "--cases", "0")
        #expect(r.status == 2, "\(r)")
        #expect(r.stderr.contains("--cases must be positive"), "\(r)")
        #expect(try mmfuzz("native", "--time", "-1").status == 2)
    }
}

#if os(Linux)
private let isLinux = true
#else
private let isLinux = false
#endif
