// Direct convolution: the gather tiles over a layer's taps (any kernel, stride and padding).
import CVggSupport
import Glibc
import VGGFormat

extension Session {
    /// Layer `l` on one image with the direct, per-pixel, pooling or LRN kernels (Winograd
    /// layers go through runLayer(images:…)).
    func runLayer(_ l: Layer, from src: UnsafeMutablePointer<Float>, shape inShape: ActivationShape, border inBorder: Int,
                  to dst: UnsafeMutablePointer<Float>, shape outShape: ActivationShape, border outBorder: Int) throws {
        switch l.kind {
        case .convolution:
            guard let weight = l.weight else { throw VGGError(.internal, "layer '\(l.name)' has no weight tensor") }
            let g = Session.convGeometry(l, inShape: inShape, inBorder: inBorder, outShape: outShape, outBorder: outBorder)
            let input = UnsafePointer(src)
            let weights = weight.data, dtype = weight.dtype.rawValue
            let bias = l.bias.map { $0.data.assumingMemoryBound(to: Float.self) }
            let blocks = g.outBlocks
            if g.outWidth >= 4 {
                let rows = kernels.rows, step = kernels.blockStep
                let height = g.outHeight
                pool.parallelFor((blocks + step - 1) / step * height) { t in
                    let row = t % height
                    rows(input, weights, dtype, bias, dst, g, t / height * step, row, row + 1)
                }
            } else {
                buildOffsets(g)
                let pixelsKernel = kernels.pixels
                let pixels = g.outHeight * g.outWidth
                offsetTable.withUnsafeBufferPointer { offsets in
                    guard let o = offsets.baseAddress else { return }
                    pool.parallelFor(blocks) { blk in
                        pixelsKernel(input, weights, dtype, bias, dst, g, o, blk, 0, pixels)
                    }
                }
            }
        case .maxPool, .averagePool:
            pooling(l, from: src, shape: inShape, border: inBorder, to: dst, shape: outShape, border: outBorder)
        case .lrn:
            lrn(l, from: src, shape: inShape, border: inBorder, to: dst, border: outBorder)
        }
    }

    static func convGeometry(_ l: Layer, inShape: ActivationShape, inBorder: Int, outShape: ActivationShape,
                             outBorder: Int) -> ConvGeometry {
        var g = ConvGeometry()
        g.inChannels = l.inChannels
        g.inHeight = inShape.height + 2 * inBorder
        g.inWidth = inShape.width + 2 * inBorder
        g.originY = inBorder - l.padH
        g.originX = inBorder - l.padW
        g.outChannels = l.outChannels
        g.outHeight = outShape.height
        g.outWidth = outShape.width
        g.outBorder = outBorder
        g.kernelH = l.kernelH; g.kernelW = l.kernelW
        g.strideH = l.strideH; g.strideW = l.strideW
        g.relu = l.relu
        return g
    }

    /// Input offsets of every tap (ci, ky, kx) relative to a pixel's window origin.
    func buildOffsets(_ g: ConvGeometry) {
        let plane = g.inHeight * g.inWidth * 16
        offsetTable.removeAll(keepingCapacity: true)
        offsetTable.reserveCapacity(g.taps)
        for ci in 0..<g.inChannels {
            for ky in 0..<g.kernelH {
                for kx in 0..<g.kernelW {
                    offsetTable.append((ci >> 4) * plane + (ky * g.inWidth + kx) * 16 + (ci & 15))
                }
            }
        }
    }
}
