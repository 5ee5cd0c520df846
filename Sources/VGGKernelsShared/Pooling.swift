// Max and average pooling on blocked activations (`[C/16][H][W][16]`), one output row of one
// channel block per call, with Caffe's window rules (see docs/FORMAT.md). Shared by the
// per-ISA modules like every file here; the rules of WeightLoading.swift for generic code apply.
import CVggSupport
import VGGFormat

extension Kernels {
    /// Output row `row` of channel block `block`.
    public static func poolRow(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, geometry g: PoolGeometry,
                               block: Int, row oy: Int) {
        let wbi = g.inWidth &+ 2 &* g.inBorder, hbi = g.inHeight &+ 2 &* g.inBorder
        let wbo = g.outWidth &+ 2 &* g.outBorder, hbo = g.outHeight &+ 2 &* g.outBorder
        let inPlane = UnsafeRawPointer(input + block &* hbi &* wbi &* 16)
        let outRow = UnsafeMutableRawPointer(output + (block &* hbo &* wbo &+ (oy &+ g.outBorder) &* wbo &+ g.outBorder) &* 16)
        let hstart = oy &* g.strideH &- g.padH
        let hend = min(hstart &+ g.kernelH, g.inHeight &+ g.padH)
        let h0 = max(hstart, 0), h1 = max(h0, min(hend, g.inHeight))
        for ox in 0..<g.outWidth {
            let wstart = ox &* g.strideW &- g.padW
            let wend = min(wstart &+ g.kernelW, g.inWidth &+ g.padW)
            let w0 = max(wstart, 0), w1 = max(w0, min(wend, g.inWidth))
            var acc: SIMD16<Float>
            if g.isMax {
                acc = SIMD16(repeating: -Float.greatestFiniteMagnitude)
                for y in h0..<h1 {
                    for x in w0..<w1 {
                        let v = vload(inPlane, ((y &+ g.inBorder) &* wbi &+ x &+ g.inBorder) &* 64)
                        acc = vggsupport_larger16(acc, v)
                    }
                }
            } else {
                acc = .zero
                for y in h0..<h1 {
                    for x in w0..<w1 {
                        acc += vload(inPlane, ((y &+ g.inBorder) &* wbi &+ x &+ g.inBorder) &* 64)
                    }
                }
                acc /= SIMD16(repeating: Float((hend &- hstart) &* (wend &- wstart)))
            }
            outRow.storeBytes(of: acc, toByteOffset: ox &* 64, as: SIMD16<Float>.self)
        }
    }
}
