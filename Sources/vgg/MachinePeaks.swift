// The rates `vgg bench --layers` measures a run against: this machine's multiply-add peak for
// each arithmetic the run used and its memory bandwidth, measured (CMachineProbe) or given.
import CMachineProbe
import VGGEngine

struct MachinePeaks {
    /// GFLOP/s per thread (2 per multiply-add) of f32 FMAs, bf16 dot products, AMX tiles (0 where
    /// the run used none), and GB/s of all threads together.
    let fmaGflops: Double, bf16DotGflops: Double, amxGflops: Double, bandwidth: Double
    /// Whether the compute peaks and the bandwidth were measured here (not given).
    let peaksMeasured: Bool, bandwidthMeasured: Bool

    /// Bytes the bandwidth probe reads: past the L3 a run can count on (on a 2-core Emerald Rapids
    /// VM reads of ≤ 64 MB ran at L3 speed, ~30 GB/s a core, ≥ 200 MB at DRAM speed, 16).
    static let bandwidthProbeBytes = 512 << 20

    /// `fmaGflops` given: bf16 dot products count twice it and AMX tiles four times (Zen 4 runs
    /// `vdpbf16ps` at twice its FMA rate; AMX tiles loaded from L1 on an Emerald Rapids core ran
    /// at 3.6× its FMAs), and no rate is measured. Otherwise each arithmetic the run used is
    /// measured on `threads` threads; AMX with its operands in the tiles (its register peak,
    /// 13–16× the FMAs there, which tiles loaded from memory do not reach). The bandwidth is
    /// measured unless given.
    init(threads: Int, kernels: KernelPath, fmaGflops given: Double?, bandwidth givenBandwidth: Double?,
         bf16DotProducts: Bool, amxTiles: Bool) throws {
        if let given {
            fmaGflops = given
            bf16DotGflops = bf16DotProducts ? 2 * given : 0
            amxGflops = amxTiles ? 4 * given : 0
            peaksMeasured = false
        } else {
            let vectorBits: Int32 = kernels == .x86_64_v4 ? 512 : kernels == .x86_64_v3 ? 256 : 128
            fmaGflops = machineprobe_fma_gflops(Int32(threads), vectorBits)
            bf16DotGflops = bf16DotProducts ? machineprobe_bf16_dot_gflops(Int32(threads)) : 0
            amxGflops = amxTiles ? machineprobe_amx_gflops(Int32(threads)) : 0
            peaksMeasured = true
            for (name, used, rate) in [("f32 FMAs", true, fmaGflops), ("bf16 dot products", bf16DotProducts, bf16DotGflops),
                                       ("AMX tiles", amxTiles, amxGflops)] where used && !(rate > 0) {
                throw VGGError(.internal, "measuring the peak of \(name) on \(threads) threads: expected a rate above 0 GFLOP/s, found \(rate) (a thread would not start, or the CPU or OS refused the arithmetic): give --peak-gflops")
            }
        }
        if let givenBandwidth {
            bandwidth = givenBandwidth
            bandwidthMeasured = false
        } else {
            bandwidth = machineprobe_read_gbps(Int32(threads), MachinePeaks.bandwidthProbeBytes)
            bandwidthMeasured = true
            if !(bandwidth > 0) {
                throw VGGError(.internal, "measuring the memory bandwidth on \(threads) threads: expected a rate above 0 GB/s, found \(bandwidth) (no 512 MiB buffer, or a thread would not start): give --bandwidth")
            }
        }
    }

    /// A layer's limit in seconds: its products at the peak of the arithmetic it ran on all
    /// threads, or its weights at the bandwidth, whichever takes longer.
    func limit(_ w: LayerWork, threads: Int) -> Double {
        let perThread = w.amxTiles ? amxGflops : w.bf16DotProducts ? bf16DotGflops : fmaGflops
        let products = w.multiplyAdds > 0 && perThread > 0 ? 2 * w.multiplyAdds / (perThread * 1e9 * Double(threads)) : 0
        return max(products, Double(w.weightBytes) / (bandwidth * 1e9))
    }

    /// For the line under the table: "products at 200 (f32 FMAs), 3000 (AMX tiles) GFLOP/s per
    /// thread, measured, weights at 23 GB/s, measured".
    var summary: String {
        var rates = ["\(Int(fmaGflops)) (f32 FMAs)"]
        if bf16DotGflops > 0 { rates.append("\(Int(bf16DotGflops)) (bf16 dot products)") }
        if amxGflops > 0 { rates.append("\(Int(amxGflops)) (AMX tiles)") }
        return "products at " + rates.joined(separator: ", ") + " GFLOP/s per thread\(peaksMeasured ? ", measured" : ""), "
            + "weights at \(Int(bandwidth)) GB/s\(bandwidthMeasured ? ", measured" : "")"
    }

    var jsonFields: [(String, JSON)] {
        var fields: [(String, JSON)] = [("peak_gflops_per_thread", .double(fmaGflops))]
        if bf16DotGflops > 0 { fields.append(("bf16_dot_gflops_per_thread", .double(bf16DotGflops))) }
        if amxGflops > 0 { fields.append(("amx_gflops_per_thread", .double(amxGflops))) }
        fields += [("bandwidth_gbs", .double(bandwidth)), ("peaks_measured", .bool(peaksMeasured)),
                   ("bandwidth_measured", .bool(bandwidthMeasured))]
        return fields
    }
}
