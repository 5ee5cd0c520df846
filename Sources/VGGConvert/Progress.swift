// A one-line progress bar on standard error when it is a terminal; silent otherwise.
import Glibc

public final class Progress {
    let label: String
    let total: Int
    let enabled: Bool
    private var done = 0
    private var lastPercent = -1

    public init(label: String, total: Int, enabled: Bool = isatty(STDERR_FILENO) != 0) {
        self.label = label
        self.total = max(total, 1)
        self.enabled = enabled
    }

    public func advance(by n: Int) {
        done += n
        guard enabled else { return }
        let percent = min(100, done * 100 / total)
        if percent == lastPercent { return }
        lastPercent = percent
        let width = 30
        let filled = percent * width / 100
        let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
        let line = "\r\(label) [\(bar)] \(percent)% \(done >> 20)/\(total >> 20) MiB"
        fputs(line, stderr)
    }

    public func finish() {
        if enabled && lastPercent >= 0 { fputs("\n", stderr) }
    }
}
