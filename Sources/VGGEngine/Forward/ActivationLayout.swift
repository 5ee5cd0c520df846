// The blocked activation layout: buffer sizes, loading an image into it, the borders a layer reads.
import CVggSupport
import Glibc
import VGGFormat

extension Session {
    /// Floats of one image's blocked buffer of shape `s` with border `b`.
    static func blockedFloats(_ s: ActivationShape, _ b: Int) -> Int {
        (s.channels + 15) / 16 * 16 * (s.height + 2 * b) * (s.width + 2 * b)
    }

    /// The first fc layer among layers 0...last (VGGFormat's `firstFCLayer`: after the last
    /// pooling layer, convolutions to the end); nil when layers up to `last` have none.
    static func fcStart(model: Model, through last: Int) -> Int? {
        firstFCLayer(model.layers[0...last].lazy.map(\.kind))
    }

    /// CHW image → blocked buffer with a zero border, a buffer row of a channel block per task
    /// (on the calling thread alone, 224×224 took ~0.35 ms while the other workers waited).
    func loadInput(_ image: UnsafePointer<Float>, shape s: ActivationShape, border b: Int, into buffer: UnsafeMutablePointer<Float>) {
        let hb = s.height + 2 * b, wb = s.width + 2 * b
        let blocks = (s.channels + 15) / 16
        pool.parallelFor(blocks * hb) { t in
            let block = t / hb, y = t % hb
            let row = buffer + (block * hb + y) * wb * 16
            row.update(repeating: 0, count: wb * 16)
            guard y >= b && y < b + s.height else { return }
            for c in block * 16..<min(s.channels, block * 16 + 16) {
                let dst = row + b * 16 + (c & 15)
                let src = image + (c * s.height + y - b) * s.width
                for x in 0..<s.width { dst[x * 16] = src[x] }
            }
        }
    }

    /// The part of a border-`b` ring around a map of shape `s` that layer `consumer` reads
    /// (rows above and below, columns left and right): its padding, and for a Winograd layer
    /// (tile m) the rows and columns its last tiles reach past the map (m·⌈H/m⌉ + 1 − H);
    /// nothing past the run's last layer.
    func borderReads(of consumer: Int, through last: Int, shape s: ActivationShape, border b: Int,
                     tiles: [Int]) -> BorderReads {
        guard consumer <= last, consumer < model.layers.count else { return BorderReads(top: 0, bottom: 0, left: 0, right: 0) }
        let l = model.layers[consumer]
        var reads = BorderReads(top: l.padH, bottom: l.padH, left: l.padW, right: l.padW)
        if consumer < tiles.count, tiles[consumer] > 0 {
            let m = tiles[consumer]
            reads.bottom = max(reads.bottom, (s.height + m - 1) / m * m + 1 - s.height)
            reads.right = max(reads.right, (s.width + m - 1) / m * m + 1 - s.width)
        }
        reads.top = min(reads.top, b)
        reads.bottom = min(reads.bottom, b)
        reads.left = min(reads.left, b)
        reads.right = min(reads.right, b)
        return reads
    }

    /// Zeroes what the next layer reads of the border rings of `images` blocked buffers `stride`
    /// floats apart (`reads`, within the border `b`), a channel block per task. The rest of the
    /// ring is never read: with the border of 6 before Winograd layers the whole rings were up to
    /// 1.5 MB per layer at 224×224 (conv3_x), 14 MB per run, against ~6 MB read.
    func zeroBorders(_ buffer: UnsafeMutablePointer<Float>, images: Int, stride: Int, shape s: ActivationShape, border b: Int,
                     reads: BorderReads) {
        guard b > 0 else { return }
        let blocks = (s.channels + 15) / 16
        let wb = s.width + 2 * b, hb = s.height + 2 * b
        // Columns b − left ..< b + width + right of the rows above and below; left and right of the rows between.
        let first = b - reads.left, span = reads.left + s.width + reads.right
        pool.parallelFor(images * blocks) { t in
            let plane = buffer + (t / blocks) * stride + (t % blocks) * hb * wb * 16
            for y in (b - reads.top)..<b { (plane + (y * wb + first) * 16).update(repeating: 0, count: span * 16) }
            for y in (b + s.height)..<(b + s.height + reads.bottom) {
                (plane + (y * wb + first) * 16).update(repeating: 0, count: span * 16)
            }
            for y in b..<(b + s.height) {
                (plane + (y * wb + first) * 16).update(repeating: 0, count: reads.left * 16)
                (plane + (y * wb + b + s.width) * 16).update(repeating: 0, count: reads.right * 16)
            }
        }
    }
}
