import CFuzzStandalone
import Foundation
import MMFuzz

/// libFuzzer's entry: the input bytes decode into a case (``ByteCase``:
/// every byte string is one, its first bytes choose the variant and the
/// machine), which runs on a fresh machine against the model with every
/// checker on.  Any failure (a checker's violation, a disagreement with the
/// model, an audit at the end) is printed with the case as a reproducer,
/// then the process aborts, so that libFuzzer saves the input as a crash.
/// `mmfuzz convert CRASH` turns that input into the same reproducer.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let fuzzCase = ByteCase.decode(UnsafeBufferPointer(start: data, count: data == nil ? 0 : size))
    let result = CaseRunner.run(fuzzCase)
    guard let failure = result.failure else { return 0 }
    let reproducer = Reproducer(fuzzCase: fuzzCase, failure: failure).encoded()
    FileHandle.standardError.write(Data("""
        mmfuzz-libfuzzer: \(failure.kind) on \(fuzzCase.variant.name)\
        \(failure.opIndex.map { " at op \($0)" } ?? ""): \(failure.message)
        mmfuzz-libfuzzer: the case as a reproducer (`mmfuzz convert INPUT` writes it):
        \(reproducer)

        """.utf8))
    abort()
}
