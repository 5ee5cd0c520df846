// Max and average pooling on blocked buffers, with the model's rounding.
import CVggSupport
import Glibc
import VGGFormat

extension Session {
    /// Max/average pooling with Caffe's window rules (max: windows clipped to the image;
    /// average: divided by the window clipped to the padded image), one row per task.
    func pooling(_ l: Layer, from src: UnsafeMutablePointer<Float>, shape s: ActivationShape, border bi: Int,
                 to dst: UnsafeMutablePointer<Float>, shape o: ActivationShape, border bo: Int) {
        var g = PoolGeometry()
        (g.inHeight, g.inWidth, g.inBorder) = (s.height, s.width, bi)
        (g.outHeight, g.outWidth, g.outBorder) = (o.height, o.width, bo)
        (g.kernelH, g.kernelW, g.strideH, g.strideW, g.padH, g.padW) = (l.kernelH, l.kernelW, l.strideH, l.strideW, l.padH, l.padW)
        g.isMax = l.kind == .maxPool
        let input = UnsafePointer(src), kernel = kernels.pool, rows = o.height
        pool.parallelFor((s.channels + 15) / 16 * rows) { t in kernel(input, dst, g, t / rows, t % rows) }
    }
}
