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

        With --layers, each layer's median time, its share of the run, the algorithm it ran \
        (F(4×4,3×3) or F(6×6,3×3) Winograd, direct, fc), its limit and its efficiency (limit \
        / measured). A layer's limit is the longer of its products at the peak rate of the \
        arithmetic it ran (f32 FMAs, bf16 dot products or AMX tiles; Winograd: its element-wise \
        products, not the transforms) and its weights read at the memory bandwidth. The peaks \
        and the bandwidth are measured on this machine after the timed runs (~1 s: each \
        arithmetic in registers on all threads at once, AMX tiles at their register peak, \
        which tiles loaded from memory do not reach; reads of 512 MiB), unless given: \
        --peak-gflops sets the FMA rate (bf16 dot products then count twice it, AMX tiles four \
        times), --bandwidth the memory's. The fc layers of a lone image read only the weights \
        of non-zero inputs, so they can beat that limit (above 100%).

        Examples:
          vgg bench -m vgg16.vgg
          vgg bench -m vgg16.vgg --size 384 --threads 2 --runs 20 --layers
          vgg bench -m vgg16.vgg --batch 8 --json
          vgg bench -m vgg16.vgg --no-winograd --layers     # direct convolution only
          vgg bench -m vgg16-bf16.vgg --no-bf16-arithmetic      # f32 arithmetic
          vgg bench -m vgg16-bf16.vgg --always-bf16-arithmetic  # bf16 dot products

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

    @Flag(help: "bf16-weight models: the fastest bf16 arithmetic the CPU has (default: AMX tiles, or bf16 dot products where faster than f32), never, or bf16 dot products wherever the CPU has them (VGG_OPTION_BF16_ARITHMETIC 1, 0, 2).")
    var bf16Arithmetic = BF16ArithmeticFlag.bf16Arithmetic

    @Flag(help: "Print JSON.")
    var json = false

    @Option(help: "f32 FMA peak per thread in GFLOP/s for --layers (default: measured here).")
    var peakGflops: Double?

    @Option(help: "Memory bandwidth of all threads in GB/s for --layers (default: measured here).")
    var bandwidth: Double?

    func run() throws {
        guard size >= 1, batch >= 1, batch <= 1024, runs >= 1, runs <= 100_000, warmup >= 0 else {
            throw ValidationError("--size, --batch (≤ 1024) and --runs must be positive, --warmup not negative")
        }
        guard [0, 4, 6].contains(winogradTile) else { throw ValidationError("--winograd-tile: expected 0, 4 or 6, found \(winogradTile)") }
        for (name, value) in [("--peak-gflops", peakGflops), ("--bandwidth", bandwidth)] {
            if let value, !(value > 0 && value.isFinite) {
                throw ValidationError("\(name): expected a positive number, found \(value)")
            }
        }
        let t0 = monotonicSeconds()
        let m = try openModel(model, verify: false)
        let openSeconds = monotonicSeconds() - t0
        let session = try makeSession(m, threads: threads)
        session.winogradEnabled = winograd
        session.winogradTileSize = winogradTile
        session.bf16Arithmetic = bf16Arithmetic.mode
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
            let work = layers ? try session.layerWork(n: batch, height: size, width: size) : []
            // Measured after the runs and the RSS reading: the bandwidth probe's buffer must not count.
            let peaks = layers ? try MachinePeaks(threads: session.threads, kernels: session.kernelPath, fmaGflops: peakGflops,
                                                  bandwidth: bandwidth, bf16DotProducts: work.contains { $0.bf16DotProducts && !$0.amxTiles },
                                                  amxTiles: work.contains { $0.amxTiles }) : nil
            let layerRows: [LayerRow] = layers ? m.layers.indices.map { i in
                let t = layerTimes[i].sorted()
                let med = t.isEmpty ? 0 : t[t.count / 2]
                let w = work[i]
                let limit = peaks?.limit(w, threads: session.threads) ?? 0
                return LayerRow(name: m.layers[i].name, algorithm: w.algorithm, seconds: med,
                                gflops: med > 0 ? flops[i] * Double(batch) / med / 1e9 : 0, limit: limit)
            } : []
            let layerTotal = layerRows.reduce(0) { $0 + $1.seconds }, limitTotal = layerRows.reduce(0) { $0 + $1.limit }
            func share(_ r: LayerRow) -> Double { layerTotal > 0 ? r.seconds / layerTotal : 0 }
            func efficiency(_ r: LayerRow) -> Double { r.seconds > 0 ? r.limit / r.seconds : 0 }
            // Whether this run's bf16 weights went through AMX tiles or bf16 dot products (the option and the CPU decide).
            let bf16DotProducts = m.weightDTypes.contains("bf16") && session.bf16DotProducts
            let amxTiles = m.weightDTypes.contains("bf16") && session.amxTiles
            let arithmetic = !m.weightDTypes.contains("bf16") ? ""
                : amxTiles ? (bf16DotProducts ? ", AMX tiles + bf16 dot products" : ", AMX tiles where they apply, f32 elsewhere")
                : bf16DotProducts ? ", bf16 dot products" : ", f32 arithmetic"
            if json {
                var fields: [(String, JSON)] = [
                    ("model", .string(m.name)), ("size", .int(size)), ("batch", .int(batch)), ("threads", .int(session.threads)),
                    ("kernels", .string(session.kernelPath.rawValue)), ("dtype", .string(m.weightDTypes)), ("bf16_dot_products", .bool(bf16DotProducts)),
                    ("amx_tiles", .bool(amxTiles)),
                    ("runs", .int(runs)), ("median_ms", .double(median * 1000)), ("min_ms", .double(best * 1000)),
                    ("gflop", .double(total / 1e9)), ("gflops", .double(total / median / 1e9)),
                    ("open_ms", .double(openSeconds * 1000)), ("peak_rss_mb", .double(rssMB)),
                ]
                if layers {
                    fields.append(("layers", .array(layerRows.map {
                        .object([("name", .string($0.name)), ("algorithm", .string($0.algorithm)),
                                 ("median_ms", .double($0.seconds * 1000)), ("share", .double(share($0))),
                                 ("gflops", .double($0.gflops)), ("limit_ms", .double($0.limit * 1000)),
                                 ("efficiency", .double(efficiency($0)))])
                    })))
                    fields.append(("layers_ms", .double(layerTotal * 1000)))
                    fields.append(("limit_ms", .double(limitTotal * 1000)))
                    if let peaks { fields += peaks.jsonFields }
                }
                print(JSON.object(fields).text)
                return
            }
            func ms(_ s: Double) -> String { String(Double(Int(s * 10000)) / 10) }
            print("\(m.name): \(size)×\(size), batch \(batch), \(session.threads) threads, \(session.kernelPath.rawValue) kernels, \(m.weightDTypes) weights\(arithmetic)")
            print("median \(ms(median)) ms, best \(ms(best)) ms over \(runs) runs; \(Int(total / median / 1e9)) GFLOP/s (\(String(Double(Int(total / 1e7)) / 100)) GFLOP per run)")
            print("model open \(ms(openSeconds)) ms, peak RSS \(Int(rssMB)) MB")
            if layers {
                func percent(_ x: Double) -> String { String(Int((x * 100).rounded())) + "%" }
                var rows = [["layer", "algorithm", "median ms", "share", "GFLOP/s", "limit ms", "efficiency"]]
                for r in layerRows {
                    rows.append([r.name, r.algorithm, ms(r.seconds), percent(share(r)), r.gflops > 0 ? String(Int(r.gflops)) : "",
                                 r.limit > 0 ? ms(r.limit) : "", r.limit > 0 ? percent(efficiency(r)) : ""])
                }
                printTable(rows)
                print("layers \(ms(layerTotal)) ms against a limit of \(ms(limitTotal)) ms (\(String(Double(Int(layerTotal / max(limitTotal, 1e-12) * 100)) / 100))×)\(peaks.map { ": " + $0.summary } ?? "")")
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

/// One layer's line of --layers.
struct LayerRow {
    let name: String, algorithm: String
    /// Median seconds, direct-convolution GFLOP/s, and the limit in seconds.
    let seconds: Double, gflops: Double, limit: Double
}

/// --bf16-arithmetic (where faster), --no-bf16-arithmetic, --always-bf16-arithmetic.
enum BF16ArithmeticFlag: String, EnumerableFlag {
    case bf16Arithmetic, noBf16Arithmetic, alwaysBf16Arithmetic

    var mode: BF16Arithmetic {
        switch self {
        case .bf16Arithmetic: return .whereFaster
        case .noBf16Arithmetic: return .off
        case .alwaysBf16Arithmetic: return .always
        }
    }
}
