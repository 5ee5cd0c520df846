// `vgg bench`: how fast a model runs here — median and best time, GFLOP/s, peak memory, and
// with --layers the time of every layer.
import ArgumentParser
import Glibc
import VGGEngine

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time forward runs of a model on random input.",
        discussion: """
        Opens the model, runs --warmup untimed forward passes, then --runs timed ones, and \
        reports the median and best time, the direct-convolution GFLOP/s (2 × multiply-adds \
        of every convolution, fc layers included), the model open time and the peak RSS. \
        The machine may be shared: compare numbers measured in one run.

        Examples:
          vgg bench -m vgg16.vgg
          vgg bench -m vgg16.vgg --size 384 --threads 2 --runs 20 --layers
          vgg bench -m vgg16.vgg --batch 8 --json
          vgg bench -m vgg16.vgg --no-winograd --layers     # direct convolution only
          vgg bench -m vgg16-bf16.vgg --no-bf16-arithmetic  # f32 arithmetic

        Exit status: 0 success, 1 failure, 64 usage error.
        """
    )

    @Option(name: .shortAndLong, help: "The .vgg model.")
    var model: String

    @Option(help: "Input side (square).")
    var size = 224

    @Option(help: "Images per run.")
    var batch = 1

    @Option(help: "Threads (default: all cores).")
    var threads: Int?

    @Option(help: "Timed runs.")
    var runs = 10

    @Option(help: "Untimed warm-up runs.")
    var warmup = 2

    @Flag(help: "Also time every layer.")
    var layers = false

    @Flag(inversion: .prefixedNo, help: "Run 3×3 layers as Winograd (VGG_OPTION_WINOGRAD).")
    var winograd = true

    @Option(help: "Winograd tile on every layer: 4 for F(4×4,3×3), 6 for F(6×6,3×3); 0 picks per layer.")
    var winogradTile = 0

    @Flag(inversion: .prefixedNo, help: "bf16 dot products for bf16-weight models (VGG_OPTION_BF16_ARITHMETIC).")
    var bf16Arithmetic = true

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        guard size >= 1, batch >= 1, batch <= 1024, runs >= 1, runs <= 100_000, warmup >= 0 else {
            throw ValidationError("--size, --batch (≤ 1024) and --runs must be positive, --warmup not negative")
        }
        guard [0, 4, 6].contains(winogradTile) else { throw ValidationError("--winograd-tile: expected 0, 4 or 6, found \(winogradTile)") }
        let t0 = monotonicSeconds()
        let m = try openModel(model, verify: false)
        let openSeconds = monotonicSeconds() - t0
        let session = try makeSession(m, threads: threads)
        session.winogradEnabled = winograd
        session.winogradTileSize = winogradTile
        session.bf16Arithmetic = bf16Arithmetic
        do {
            let shapes = try Planner.shapes(model: m, height: size, width: size)
            var flops = [Double]()
            for (i, l) in m.layers.enumerated() {
                let s = shapes[i]
                flops.append(l.kind == .convolution ? 2 * Double(l.outChannels * l.inChannels * l.kernelH * l.kernelW) * Double(s.height * s.width) : 0)
            }
            let total = flops.reduce(0, +) * Double(batch)
            var input = [Float](repeating: 0, count: batch * 3 * size * size)
            var seed: UInt64 = 42
            for i in input.indices {
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                input[i] = Float(Int(seed >> 40) % 2000 - 1000) / 10
            }
            let out = try session.outputShape(height: size, width: size)
            var scores = [Float](repeating: 0, count: batch * out.count)
            var layerTimes = [[Double]](repeating: [], count: m.layers.count)
            func once() throws -> Double {
                let start = monotonicSeconds()
                try input.withUnsafeBufferPointer { i in
                    try scores.withUnsafeMutableBufferPointer { o in
                        guard let ib = i.baseAddress, let ob = o.baseAddress else { return }
                        _ = try session.forward(input: ib, n: batch, height: size, width: size, output: ob, capacity: o.count)
                    }
                }
                return monotonicSeconds() - start
            }
            for _ in 0..<warmup { _ = try once() }
            var times = [Double]()
            for _ in 0..<runs { times.append(try once()) }
            if layers {
                session.layerTimer = { i, s in layerTimes[i].append(s) }
                for _ in 0..<runs { _ = try once() }
                session.layerTimer = nil
            }
            times.sort()
            let median = times[times.count / 2], best = times[0]
            let rssMB = peakResidentMB()
            let layerRows: [(String, Double, Double)] = layers ? m.layers.indices.map { i in
                let t = layerTimes[i].sorted()
                let med = t.isEmpty ? 0 : t[t.count / 2]
                return (m.layers[i].name, med, med > 0 ? flops[i] * Double(batch) / med / 1e9 : 0)
            } : []
            if json {
                var fields: [(String, JSON)] = [
                    ("model", .string(m.name)), ("size", .int(size)), ("batch", .int(batch)), ("threads", .int(session.threads)),
                    ("kernels", .string(session.kernelPath.rawValue)), ("dtype", .string(m.weightDTypes)),
                    ("runs", .int(runs)), ("median_ms", .double(median * 1000)), ("min_ms", .double(best * 1000)),
                    ("gflop", .double(total / 1e9)), ("gflops", .double(total / median / 1e9)),
                    ("open_ms", .double(openSeconds * 1000)), ("peak_rss_mb", .double(rssMB)),
                ]
                if layers {
                    fields.append(("layers", .array(layerRows.map { .object([("name", .string($0.0)), ("median_ms", .double($0.1 * 1000)), ("gflops", .double($0.2))]) })))
                }
                print(JSON.object(fields).text)
                return
            }
            func ms(_ s: Double) -> String { String(Double(Int(s * 10000)) / 10) }
            print("\(m.name): \(size)×\(size), batch \(batch), \(session.threads) threads, \(session.kernelPath.rawValue) kernels, \(m.weightDTypes) weights")
            print("median \(ms(median)) ms, best \(ms(best)) ms over \(runs) runs; \(Int(total / median / 1e9)) GFLOP/s (\(String(Double(Int(total / 1e7)) / 100)) GFLOP per run)")
            print("model open \(ms(openSeconds)) ms, peak RSS \(Int(rssMB)) MB")
            if layers {
                var rows = [["layer", "median ms", "GFLOP/s"]]
                for r in layerRows { rows.append([r.0, ms(r.1), r.2 > 0 ? String(Int(r.2)) : ""]) }
                printTable(rows)
            }
        } catch let e as VGGError {
            fputs("vgg: \(e.message)\n", stderr)
            throw ExitCode(1)
        }
    }
}

/// This process's peak resident set in MB: VmHWM from /proc/self/status, which starts afresh at
/// exec. getrusage's ru_maxrss does not: a bench started by a large parent (the demo's Python,
/// 1.7 GB after writing the caffemodel) reported the parent's size from before the exec.
func peakResidentMB() -> Double {
    if let f = fopen("/proc/self/status", "r") {
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), f) != nil {
            let text = String(cString: line)
            if text.hasPrefix("VmHWM:"), let kB = Double(text.dropFirst(6).filter(\.isNumber)) { return kB / 1024 }
        }
    }
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}
