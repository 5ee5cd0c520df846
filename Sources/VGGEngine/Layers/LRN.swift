// Local response normalisation across channels (the VGG_CNN_* models).
import CVggSupport
import Glibc
import VGGFormat

extension Session {
    /// LRN across channels: x · (k + α/n · Σ x²)^(−β) over the n channels centred on each.
    func lrn(_ l: Layer, from src: UnsafeMutablePointer<Float>, shape s: ActivationShape, border bi: Int,
             to dst: UnsafeMutablePointer<Float>, border bo: Int) {
        let hbi = s.height + 2 * bi, wbi = s.width + 2 * bi
        let hbo = s.height + 2 * bo, wbo = s.width + 2 * bo
        let C = s.channels, half = (l.lrnLocalSize - 1) / 2
        let alphaOverN = l.lrnAlpha / Float(l.lrnLocalSize), beta = l.lrnBeta, k = l.lrnK
        let input = UnsafePointer(src)
        pool.parallelFor(s.height) { y in
            withUnsafeTemporaryAllocation(of: Double.self, capacity: C + 1) { prefix in
                for x in 0..<s.width {
                    prefix[0] = 0
                    for c in 0..<C {
                        let v = input[((c >> 4) * hbi * wbi + (y + bi) * wbi + x + bi) * 16 + (c & 15)]
                        prefix[c + 1] = prefix[c] + Double(v * v)
                    }
                    for c in 0..<C {
                        let lo = max(0, c - half), hi = min(C - 1, c + half)
                        let sum = Float(prefix[hi + 1] - prefix[lo])
                        let v = input[((c >> 4) * hbi * wbi + (y + bi) * wbi + x + bi) * 16 + (c & 15)]
                        dst[((c >> 4) * hbo * wbo + (y + bo) * wbo + x + bo) * 16 + (c & 15)] = v * pow(k + alphaOverN * sum, -beta)
                    }
                }
            }
        }
    }
}
