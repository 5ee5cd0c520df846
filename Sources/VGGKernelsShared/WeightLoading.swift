// Loading weights as 16 float lanes whatever their stored type (f32, f16, bf16), and fetching
// the next chunk's raw weights ahead. Every kernel file of this folder is compiled into each
// per-ISA module (VGGKernelsBase/V3/V4 hold symlinks to it) with that module's -march flag.
// Keep them to pointers, SIMD types and concrete scalar conversions: a generic stdlib call
// specialised here (SIMD16<Float>(someSIMD16), say) is emitted as a weak symbol the linker may
// merge with another module's copy, and the baseline path would then run AVX-512 code.
// Tests/check_kernels.sh checks there are none.
import CVggSupport
import VGGFormat

protocol WeightLoad {
    /// The `index`-th 16-lane weight vector as floats.
    static func load(_ base: UnsafeRawPointer, _ index: Int) -> SIMD16<Float>
}

enum F32Weights: WeightLoad {
    @inline(__always)
    static func load(_ base: UnsafeRawPointer, _ index: Int) -> SIMD16<Float> {
        vload(base, index &* 64)  // tensors are 64-byte aligned (reader rule)
    }
}

enum F16Weights: WeightLoad {
    @inline(__always)
    static func load(_ base: UnsafeRawPointer, _ index: Int) -> SIMD16<Float> {
        let p = base + index &* 32
        var v = SIMD16<Float>()
        for i in 0..<16 { v[i] = Float(p.loadUnaligned(fromByteOffset: i &* 2, as: Float16.self)) }
        return v
    }
}

enum BF16Weights: WeightLoad {
    @inline(__always)
    static func load(_ base: UnsafeRawPointer, _ index: Int) -> SIMD16<Float> {
        let p = base + index &* 32
        var v = SIMD16<UInt32>()
        for i in 0..<16 { v[i] = UInt32(p.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self)) &<< 16 }
        return unsafeBitCast(v, to: SIMD16<Float>.self)
    }
}

/// A 64-byte-aligned vector load through a typed pointer (a transparent accessor): the generic
/// `load(fromByteOffset:as:)` can leave a weak specialised copy behind (see the header).
@inline(__always)
func vload(_ p: UnsafeRawPointer, _ byteOffset: Int) -> SIMD16<Float> {
    (p + byteOffset).assumingMemoryBound(to: SIMD16<Float>.self).pointee
}

@inline(__always)
func relu(_ v: SIMD16<Float>) -> SIMD16<Float> {
    vggsupport_relu16(v)
}

/// Raw weights wanted after the current chunk, fetched to L2 in slices while it computes: two
/// runs of `bytes`, one per output block of a pair (the fc gather kernel's next tap chunk, or
/// the Winograd products' next channel chunk).
struct WeightsAhead {
    let start0: UnsafeRawPointer, start1: UnsafeRawPointer, lines: Int, step: Int

    /// `bytes` from `first` and from `second` (the two blocks' runs).
    @inline(__always)
    init(first: UnsafeRawPointer, second: UnsafeRawPointer, bytes: Int) {
        self.init(first: first, second: second, lines: (bytes &+ 63) &>> 6, step: 64)
    }

    /// `lines` lines `step` bytes apart from `first` and from `second`.
    @inline(__always)
    init(first: UnsafeRawPointer, second: UnsafeRawPointer, lines: Int, step: Int) {
        start0 = first
        start1 = second
        self.lines = lines
        self.step = step
    }

    /// For winogradPairProducts: channels first ..< first + chunk of output blocks `block` and
    /// `block + 1`, or, past the last channel, the first chunk of the next pair. Nothing when the
    /// pair's weights stay transformed for the whole layer.
    @inline(__always)
    init(weights: UnsafeRawPointer, dtype: UInt32, geometry g: WinogradGeometry, block: Int, first: Int, weightsKept: Bool) {
        let vectorBytes = dtype == 1 ? 64 : 32
        var b = block, c = first
        if c >= g.inChannels { b &+= 2; c = 0 }
        let channels = weightsKept || b >= g.outBlocks ? 0 : min(g.channelChunk, g.inChannels &- c)
        let second = b &+ 1 < g.outBlocks ? b &+ 1 : b
        self.init(first: weights + (b &* g.inChannels &+ c) &* 9 &* vectorBytes,
                  second: weights + (second &* g.inChannels &+ c) &* 9 &* vectorBytes, bytes: channels &* 9 &* vectorBytes)
    }

    /// Lines of slice `slice` of `slices` of both blocks' runs.
    @inline(__always)
    func fetch(slice: Int, of slices: Int) {
        var line = slice &* lines / slices
        let end = (slice &+ 1) &* lines / slices
        while line < end {
            vggsupport_prefetch_l2(start0 + line &* step)
            vggsupport_prefetch_l2(start1 + line &* step)
            line &+= 1
        }
    }
}
