#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Files that are never seen half written: written to a temporary file in
/// the target's directory (same file system), flushed, then renamed over it.
public enum OutputFile {
    /// Writes `bytes` to `url` atomically.
    public static func writeAtomically(_ bytes: [UInt8], to url: URL) throws(CAMError) {
        let temporary = temporaryURL(for: url)
        let file = try AppendFile(creating: temporary)
        do throws(CAMError) {
            try file.write(bytes)
            try file.close()
            try rename(temporary, to: url)
        } catch {
            unlink(temporary.path)
            throw error
        }
    }

    /// A fresh name beside `url`: `.<name>.<random>.tmp`.
    static func temporaryURL(for url: URL) -> URL {
        url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UInt32.random(in: 0 ... .max)).tmp")
    }

    static func rename(_ from: URL, to: URL) throws(CAMError) {
        if Glibc.rename(from.path, to.path) != 0 {
            throw CAMError(.io, "cannot rename '\(from.path)' to '\(to.path)': \(String(cString: strerror(errno)))")
        }
    }
}

/// A file written by appending, each `write` handed to the kernel at once
/// (no user-space buffer), so that what is written survives the process.
final class AppendFile: @unchecked Sendable {
    /// Where the file is (renaming it keeps the descriptor valid).
    var url: URL
    private var fd: Int32

    /// Creates (or truncates) the file.
    init(creating url: URL) throws(CAMError) {
        self.url = url
        fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CAMError(.io, "cannot create '\(url.path)': \(String(cString: strerror(errno)))") }
    }

    /// Renames the open file; writes go on into it.
    func move(to target: URL) throws(CAMError) {
        try OutputFile.rename(url, to: target)
        url = target
    }

    func write(_ bytes: [UInt8]) throws(CAMError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CAMError(.io, "cannot write '\(url.path)': \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }

    func write(_ text: String) throws(CAMError) { try write(Array(text.utf8)) }

    /// Flushes to the disk and closes.
    func close() throws(CAMError) {
        guard fd >= 0 else { return }
        let synced = fsync(fd) == 0
        let reason = String(cString: strerror(errno))
        let closed = Glibc.close(fd) == 0
        fd = -1
        guard synced, closed else { throw CAMError(.io, "cannot write '\(url.path)': \(reason)") }
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }
}
