// f32 <-> f16/bf16 conversions used by the writer (rounding) and by reference paths.

/// bf16 of a float: round to nearest even; NaN stays NaN (quiet).
@inline(__always)
public func bf16Bits(_ x: Float) -> UInt16 {
    let bits = x.bitPattern
    if x.isNaN { return UInt16(truncatingIfNeeded: (bits >> 16) | 0x40) }
    let rounding = 0x7FFF + ((bits >> 16) & 1)
    return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
}

@inline(__always)
public func floatFromBF16(_ b: UInt16) -> Float {
    Float(bitPattern: UInt32(b) << 16)
}

@inline(__always)
public func f16Bits(_ x: Float) -> UInt16 {
    Float16(x).bitPattern
}

@inline(__always)
public func floatFromF16(_ b: UInt16) -> Float {
    Float(Float16(bitPattern: b))
}
