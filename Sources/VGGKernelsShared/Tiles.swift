// Pixel tiles: 8 (or 4) output pixels × 1–2 output blocks of accumulators, where their inputs
// are, and how they are stored (direct convolution and the fc gather).
// Shared by the per-ISA modules (VGGKernelsBase/V3/V4 hold symlinks to this file and build it
// with their -march); the rules of WeightLoading.swift for generic code apply.
import CVggSupport
import VGGFormat

extension Kernels {
    /// Stores the first `n` of 8 consecutive pixel vectors.
    @inline(__always)
    static func store8(_ out: UnsafeMutableRawPointer, _ n: Int, _ s: Int, _ a0: SIMD16<Float>, _ a1: SIMD16<Float>,
                       _ a2: SIMD16<Float>, _ a3: SIMD16<Float>, _ a4: SIMD16<Float>, _ a5: SIMD16<Float>,
                       _ a6: SIMD16<Float>, _ a7: SIMD16<Float>) {
        out.storeBytes(of: a0, as: SIMD16<Float>.self)
        if n > 1 { out.storeBytes(of: a1, toByteOffset: s, as: SIMD16<Float>.self) }
        if n > 2 { out.storeBytes(of: a2, toByteOffset: 2 &* s, as: SIMD16<Float>.self) }
        if n > 3 { out.storeBytes(of: a3, toByteOffset: 3 &* s, as: SIMD16<Float>.self) }
        if n > 4 { out.storeBytes(of: a4, toByteOffset: 4 &* s, as: SIMD16<Float>.self) }
        if n > 5 { out.storeBytes(of: a5, toByteOffset: 5 &* s, as: SIMD16<Float>.self) }
        if n > 6 { out.storeBytes(of: a6, toByteOffset: 6 &* s, as: SIMD16<Float>.self) }
        if n > 7 { out.storeBytes(of: a7, toByteOffset: 7 &* s, as: SIMD16<Float>.self) }
    }

    /// Stores the first `n` of 8 pixel vectors, pixel k at p + at[k] floats.
    @inline(__always)
    static func scatter8(_ p: UnsafeMutableRawPointer, _ at: UnsafePointer<Int>, _ n: Int, _ a0: SIMD16<Float>,
                         _ a1: SIMD16<Float>, _ a2: SIMD16<Float>, _ a3: SIMD16<Float>, _ a4: SIMD16<Float>,
                         _ a5: SIMD16<Float>, _ a6: SIMD16<Float>, _ a7: SIMD16<Float>) {
        @inline(__always) func put(_ k: Int, _ v: SIMD16<Float>) {
            (p + at[k] &* 4).assumingMemoryBound(to: SIMD16<Float>.self).pointee = v
        }
        put(0, a0)
        if n > 1 { put(1, a1) }
        if n > 2 { put(2, a2) }
        if n > 3 { put(3, a3) }
        if n > 4 { put(4, a4) }
        if n > 5 { put(5, a5) }
        if n > 6 { put(6, a6) }
        if n > 7 { put(7, a7) }
    }
}

/// Where the 8 pixels of a tile read their input: pixel k at `o_k` floats (clamped to the last
/// real pixel, whose value is then computed again but not stored).
struct Offsets8 {
    let o1: Int, o2: Int, o3: Int, o4: Int, o5: Int, o6: Int, o7: Int

    /// Pixel k at p[k] − p[0] floats (clamped to the last of `n`).
    @inline(__always)
    init(gathering p: UnsafePointer<Int>, pixels n: Int) {
        let p0 = p[0], last = n &- 1
        o1 = p[min(1, last)] &- p0; o2 = p[min(2, last)] &- p0; o3 = p[min(3, last)] &- p0
        o4 = p[min(4, last)] &- p0; o5 = p[min(5, last)] &- p0; o6 = p[min(6, last)] &- p0
        o7 = p[min(7, last)] &- p0
    }

    @inline(__always)
    init(pixels n: Int, step: Int) {
        o1 = min(1, n &- 1) &* step; o2 = min(2, n &- 1) &* step; o3 = min(3, n &- 1) &* step
        o4 = min(4, n &- 1) &* step; o5 = min(5, n &- 1) &* step; o6 = min(6, n &- 1) &* step
        o7 = min(7, n &- 1) &* step
    }
}

/// What the fc layers' gather kernel needs of a tile of pixels × 2 output blocks.
protocol PixelTile {
    /// Every pixel of the first block starts at `first`, of the second at `second` (the biases).
    init(_ first: SIMD16<Float>, _ second: SIMD16<Float>)
    /// Pixel k of each block from first/second + at[k] floats (k < n; the rest zero).
    init(gathering first: UnsafeRawPointer, _ second: UnsafeRawPointer, _ at: UnsafePointer<Int>, _ n: Int)
    /// Adds p[o_k] · w to the first block's pixel k and p[o_k] · v to the second's.
    mutating func step(_ p: UnsafePointer<Float>, _ o: Offsets8, _ w: SIMD16<Float>, _ v: SIMD16<Float>)
    mutating func applyReLU()
    /// Stores pixel k (k < n) of the first block at first + at[k] floats, of the second (unless nil) at second + at[k].
    func scatter(_ first: UnsafeMutableRawPointer, _ second: UnsafeMutableRawPointer?, _ at: UnsafePointer<Int>, _ n: Int)
}

/// 4 pixels × 2 output blocks: half a PairTile, the same sums in the same order per pixel.
struct QuadTile: PixelTile {
    var a0: SIMD16<Float>, a1: SIMD16<Float>, a2: SIMD16<Float>, a3: SIMD16<Float>
    var c0: SIMD16<Float>, c1: SIMD16<Float>, c2: SIMD16<Float>, c3: SIMD16<Float>

    @inline(__always)
    init(_ first: SIMD16<Float>, _ second: SIMD16<Float>) {
        a0 = first; a1 = first; a2 = first; a3 = first
        c0 = second; c1 = second; c2 = second; c3 = second
    }

    @inline(__always)
    init(gathering first: UnsafeRawPointer, _ second: UnsafeRawPointer, _ at: UnsafePointer<Int>, _ n: Int) {
        self.init(.zero, .zero)
        @inline(__always) func f(_ k: Int) -> SIMD16<Float> { vload(first, at[k] &* 4) }
        @inline(__always) func s(_ k: Int) -> SIMD16<Float> { vload(second, at[k] &* 4) }
        a0 = f(0); c0 = s(0)
        if n > 1 { a1 = f(1); c1 = s(1) }
        if n > 2 { a2 = f(2); c2 = s(2) }
        if n > 3 { a3 = f(3); c3 = s(3) }
    }

    @inline(__always)
    mutating func step(_ p: UnsafePointer<Float>, _ o: Offsets8, _ w: SIMD16<Float>, _ v: SIMD16<Float>) {
        var x = SIMD16<Float>(repeating: p[0])
        a0 = multiplyAdd(a0, x, w); c0 = multiplyAdd(c0, x, v)
        x = SIMD16(repeating: p[o.o1]); a1 = multiplyAdd(a1, x, w); c1 = multiplyAdd(c1, x, v)
        x = SIMD16(repeating: p[o.o2]); a2 = multiplyAdd(a2, x, w); c2 = multiplyAdd(c2, x, v)
        x = SIMD16(repeating: p[o.o3]); a3 = multiplyAdd(a3, x, w); c3 = multiplyAdd(c3, x, v)
    }

    @inline(__always)
    mutating func applyReLU() {
        a0 = relu(a0); a1 = relu(a1); a2 = relu(a2); a3 = relu(a3)
        c0 = relu(c0); c1 = relu(c1); c2 = relu(c2); c3 = relu(c3)
    }

    @inline(__always)
    func scatter(_ first: UnsafeMutableRawPointer, _ second: UnsafeMutableRawPointer?, _ at: UnsafePointer<Int>, _ n: Int) {
        Kernels.scatter8(first, at, min(n, 4), a0, a1, a2, a3, a3, a3, a3, a3)
        if let second { Kernels.scatter8(second, at, min(n, 4), c0, c1, c2, c3, c3, c3, c3, c3) }
    }
}

/// 8 pixels × 2 output blocks of accumulators: the paired-block microkernel of direct
/// convolution and of the Winograd products (16 vector registers; each step is 2 weight
/// vectors and 8 broadcasts for 16 FMAs).
struct PairTile: PixelTile {
    var a0: SIMD16<Float>, a1: SIMD16<Float>, a2: SIMD16<Float>, a3: SIMD16<Float>
    var a4: SIMD16<Float>, a5: SIMD16<Float>, a6: SIMD16<Float>, a7: SIMD16<Float>
    var c0: SIMD16<Float>, c1: SIMD16<Float>, c2: SIMD16<Float>, c3: SIMD16<Float>
    var c4: SIMD16<Float>, c5: SIMD16<Float>, c6: SIMD16<Float>, c7: SIMD16<Float>

    @inline(__always)
    init(_ first: SIMD16<Float>, _ second: SIMD16<Float>) {
        a0 = first; a1 = first; a2 = first; a3 = first; a4 = first; a5 = first; a6 = first; a7 = first
        c0 = second; c1 = second; c2 = second; c3 = second; c4 = second; c5 = second; c6 = second; c7 = second
    }

    /// The first `pixels` accumulators of each block from memory (pixel k at k · pixelBytes), the rest zero.
    @inline(__always)
    init(loading first: UnsafeRawPointer, second: UnsafeRawPointer, pixels n: Int, pixelBytes s: Int) {
        self.init(.zero, .zero)
        a0 = vload(first, 0); c0 = vload(second, 0)
        if n > 1 { a1 = vload(first, s); c1 = vload(second, s) }
        if n > 2 { a2 = vload(first, 2 &* s); c2 = vload(second, 2 &* s) }
        if n > 3 { a3 = vload(first, 3 &* s); c3 = vload(second, 3 &* s) }
        if n > 4 { a4 = vload(first, 4 &* s); c4 = vload(second, 4 &* s) }
        if n > 5 { a5 = vload(first, 5 &* s); c5 = vload(second, 5 &* s) }
        if n > 6 { a6 = vload(first, 6 &* s); c6 = vload(second, 6 &* s) }
        if n > 7 { a7 = vload(first, 7 &* s); c7 = vload(second, 7 &* s) }
    }

    /// Pixel k of each block from first/second + at[k] floats (k < n; the rest zero).
    @inline(__always)
    init(gathering first: UnsafeRawPointer, _ second: UnsafeRawPointer, _ at: UnsafePointer<Int>, _ n: Int) {
        self.init(.zero, .zero)
        @inline(__always) func f(_ k: Int) -> SIMD16<Float> { vload(first, at[k] &* 4) }
        @inline(__always) func s(_ k: Int) -> SIMD16<Float> { vload(second, at[k] &* 4) }
        a0 = f(0); c0 = s(0)
        if n > 1 { a1 = f(1); c1 = s(1) }
        if n > 2 { a2 = f(2); c2 = s(2) }
        if n > 3 { a3 = f(3); c3 = s(3) }
        if n > 4 { a4 = f(4); c4 = s(4) }
        if n > 5 { a5 = f(5); c5 = s(5) }
        if n > 6 { a6 = f(6); c6 = s(6) }
        if n > 7 { a7 = f(7); c7 = s(7) }
    }

    /// Stores pixel k (k < n) of the first block at first + at[k] floats, of the second (unless nil) at second + at[k].
    @inline(__always)
    func scatter(_ first: UnsafeMutableRawPointer, _ second: UnsafeMutableRawPointer?, _ at: UnsafePointer<Int>, _ n: Int) {
        Kernels.scatter8(first, at, n, a0, a1, a2, a3, a4, a5, a6, a7)
        if let second { Kernels.scatter8(second, at, n, c0, c1, c2, c3, c4, c5, c6, c7) }
    }

    /// Adds p[o_k] · w to the first block's pixel k and p[o_k] · v to the second's.
    @inline(__always)
    mutating func step(_ p: UnsafePointer<Float>, _ o: Offsets8, _ w: SIMD16<Float>, _ v: SIMD16<Float>) {
        var x = SIMD16<Float>(repeating: p[0])
        a0 = multiplyAdd(a0, x, w); c0 = multiplyAdd(c0, x, v)
        x = SIMD16(repeating: p[o.o1]); a1 = multiplyAdd(a1, x, w); c1 = multiplyAdd(c1, x, v)
        x = SIMD16(repeating: p[o.o2]); a2 = multiplyAdd(a2, x, w); c2 = multiplyAdd(c2, x, v)
        x = SIMD16(repeating: p[o.o3]); a3 = multiplyAdd(a3, x, w); c3 = multiplyAdd(c3, x, v)
        x = SIMD16(repeating: p[o.o4]); a4 = multiplyAdd(a4, x, w); c4 = multiplyAdd(c4, x, v)
        x = SIMD16(repeating: p[o.o5]); a5 = multiplyAdd(a5, x, w); c5 = multiplyAdd(c5, x, v)
        x = SIMD16(repeating: p[o.o6]); a6 = multiplyAdd(a6, x, w); c6 = multiplyAdd(c6, x, v)
        x = SIMD16(repeating: p[o.o7]); a7 = multiplyAdd(a7, x, w); c7 = multiplyAdd(c7, x, v)
    }

    @inline(__always)
    mutating func applyReLU() {
        a0 = relu(a0); a1 = relu(a1); a2 = relu(a2); a3 = relu(a3); a4 = relu(a4); a5 = relu(a5); a6 = relu(a6); a7 = relu(a7)
        c0 = relu(c0); c1 = relu(c1); c2 = relu(c2); c3 = relu(c3); c4 = relu(c4); c5 = relu(c5); c6 = relu(c6); c7 = relu(c7)
    }

    /// Stores the first `pixels` results of each block, pixel k at k · pixelBytes.
    @inline(__always)
    func store(first: UnsafeMutableRawPointer, second: UnsafeMutableRawPointer, pixels n: Int, pixelBytes s: Int) {
        Kernels.store8(first, n, s, a0, a1, a2, a3, a4, a5, a6, a7)
        Kernels.store8(second, n, s, c0, c1, c2, c3, c4, c5, c6, c7)
    }
}
