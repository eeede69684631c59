import Foundation
import Testing

/// `mmfuzz native --concurrent`: batches on threads of one process,
/// judged by the linearizability checker (issue 14).
@Suite struct NativeBatchCommandTests {
    @Test(.enabled(if: isLinuxHost))
    func concurrentCasesAgreeWithTheHostKernel() throws {
        let r = try mmfuzz("native", "--concurrent", "--cases", "10", "--json")
        #expect(r.status == 0, "\(r)")
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        #expect(object?["cases"] as? Int == 10, "\(r)")
        #expect((object?["batches"] as? Int ?? 0) > 10, "\(r)")
        #expect((object?["differences"] as? [Any])?.isEmpty == true, "\(r)")
        #expect((object?["config"] as? [String: Any])?["regime"] as? String == "native-concurrent", "\(r)")
        #expect(try mmfuzz("native", "--concurrent", "--sequential").status == 2)
    }

    @Test(.enabled(if: isLinuxHost))
    func aLinearizabilityDifferenceIsShrunkSavedAndReplayed() throws {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("mmfuzz-native-batch-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Test-only: a batch's loads report values no order can give.
        let r = try mmfuzz("native", "--concurrent", "--cases", "20", "--skew-batch-loads", "--save", dir, "--json")
        #expect(r.status == 1, "\(r)")
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let found = try #require(object?["found"] as? [String: Any], "\(r)")
        #expect(found["kind"] as? String == "native:linearizability", "\(r)")
        #expect((found["shrunkOps"] as? Int ?? 99) <= 4, "\(r)")
        let file = try #require(found["reproducer"] as? String)
        let again = try mmfuzz("replay", "--native", "--skew-batch-loads", file)
        #expect(again.status == 1, "\(again)")
        #expect(again.stdout.contains("DIFFERS: native:linearizability"), "\(again)")
        let intact = try mmfuzz("replay", "--native", "--trace", file)
        #expect(intact.status == 0, "\(intact)")
        #expect(intact.stdout.contains("batch on"), "\(intact)")
    }
}

#if os(Linux)
private let isLinuxHost = true
#else
private let isLinuxHost = false
#endif
