// Class labels for --labels: the bundled ImageNet list ("imagenet"), Caffe's synset_words.txt
// style (one label per line, LF or CRLF) or Keras's imagenet_class_index.json
// ({"0": ["n01440764", "tench"], …}). Shared by vgg-convert and the vgg tool.
import Foundation
import VGGFormat

/// Why a labels file could not be read: one line naming the file and what was wrong.
public struct LabelsError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

public enum LabelsFile {
    /// Far above any class list (ImageNet-21k's synset_words is ~1 MB).
    static let maxBytes = 64 << 20
    /// The `--labels` value that names the bundled ILSVRC-2012 list (`./imagenet` names a file).
    public static let imageNetKeyword = "imagenet"

    public static func read(path: String) throws -> [String] {
        if path == imageNetKeyword { return imageNetLabels }
        let fd: Int32, size: Int
        do {
            (fd, size) = try openRegularFile(path)
        } catch let e as RegularFileError {
            throw LabelsError(message: "labels file: \(e.message)")
        }
        defer { close(fd) }
        guard size <= maxBytes else { throw LabelsError(message: "labels file '\(path)' is \(size) bytes, more than the \(maxBytes >> 20) MiB a class list can need") }
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        while done < size {
            let n = bytes.withUnsafeMutableBytes { buffer in Glibc.read(fd, buffer.baseAddress.map { $0 + done }, size - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw LabelsError(message: "cannot read labels file '\(path)': \(n < 0 ? String(cString: strerror(errno)) : "it ended early")") }
            done += n
        }
        let labels: [String]
        if bytes.first(where: { !isSpace($0) }) == UInt8(ascii: "{") {
            labels = try kerasClassIndex(bytes, path: path)
        } else {
            labels = try lines(bytes, path: path)
        }
        if labels.isEmpty { throw LabelsError(message: "labels file '\(path)' is empty") }
        return labels
    }

    /// One label per line; a CR before the LF is dropped; trailing blank lines are ignored.
    private static func lines(_ bytes: [UInt8], path: String) throws -> [String] {
        var labels = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { line -> ArraySlice<UInt8> in
            line.last == UInt8(ascii: "\r") ? line.dropLast() : line
        }
        while let last = labels.last, last.allSatisfy(isSpace) { labels.removeLast() }
        return try labels.enumerated().map { i, line in
            guard let s = String(validating: line, as: UTF8.self) else {
                throw LabelsError(message: "labels file '\(path)': line \(i + 1) is not UTF-8 text")
            }
            return s
        }
    }

    /// Keras's class index: keys "0" … "N-1", each [wnid, name]; a label reads "wnid name".
    private static func kerasClassIndex(_ bytes: [UInt8], path: String) throws -> [String] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)), let index = object as? [String: Any] else {
            throw LabelsError(message: "labels file '\(path)' starts with '{' but is not a JSON object (expected Keras's imagenet_class_index.json)")
        }
        return try (0..<index.count).map { i in
            guard let entry = index[String(i)] else {
                throw LabelsError(message: "labels file '\(path)': the JSON class index has \(index.count) entries but no key \"\(i)\"")
            }
            guard let pair = entry as? [Any], pair.count == 2, let wnid = pair[0] as? String, let name = pair[1] as? String else {
                throw LabelsError(message: "labels file '\(path)': class \"\(i)\" is not [wordnet id, name]")
            }
            return "\(wnid) \(name)"
        }
    }

    private static func isSpace(_ b: UInt8) -> Bool {
        b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") || b == UInt8(ascii: "\r") || b == UInt8(ascii: "\n")
    }
}
