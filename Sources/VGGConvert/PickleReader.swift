// A pickle *reader* for torch.save's data.pkl that never executes anything: it interprets the
// opcodes torch.save writes (protocol 2, the set torch's own weights-only unpickler accepts)
// on a stack of plain values, resolves only an allowlist of globals to markers, and "calls"
// only the tensor-rebuilding functions and OrderedDict, by building values itself. Any other
// global (posix system, builtins eval, a pickled nn.Module's class) is refused by name.

/// A dict or list that later opcodes (SETITEMS, APPENDS) fill in place, shared through the memo.
final class PickleBox {
    var items: [(PickleValue, PickleValue)] = []
    var elements: [PickleValue] = []
    let isList: Bool
    init(isList: Bool) { self.isList = isList }
}

/// A storage named by a persistent id: the zip entry `data/<key>` (or the legacy format's
/// record `key`) holding `count` elements; legacy files may name a view of it.
struct TorchStorage {
    var key: String
    var dtype: TorchDType
    var count: Int
    /// The legacy format's view_metadata: the view's start and length in the storage.
    var view: (offset: Int, count: Int)?
}

/// A tensor as `_rebuild_tensor_v2` describes it: a view into a storage.
struct TorchTensorView {
    var storage: TorchStorage
    var offset: Int
    var shape: [Int]
    var stride: [Int]
}

enum TorchDType: String {
    case float32 = "Float", float16 = "Half", bfloat16 = "BFloat16", float64 = "Double"
    case int64 = "Long", int32 = "Int", int16 = "Short", int8 = "Char", uint8 = "Byte", bool = "Bool"

    var size: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16, .int16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }
}

indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    /// With its nesting depth, bounded so a file cannot build values too deep to free.
    case tuple([PickleValue], depth: Int)
    case box(PickleBox)
    /// An allowed global (module, name); only a marker, nothing is imported.
    case global(String, String)
    case storage(TorchStorage)
    case tensor(TorchTensorView)

    var kind: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int: return "int"
        case .float: return "float"
        case .string: return "str"
        case .tuple: return "tuple"
        case let .box(b): return b.isList ? "list" : "dict"
        case let .global(m, n): return "\(m).\(n)"
        case .storage: return "storage"
        case .tensor: return "tensor"
        }
    }
}

struct PickleReader {
    /// Bounds on what a file can make the reader hold (a VGG state dict needs a few hundred).
    static let maxStack = 1 << 16
    static let maxMemo = 1 << 20

    private let bytes: UnsafeRawBufferPointer
    private let what: String
    private var at = 0
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
    /// Every dict and list made, emptied at the end so reference cycles a file builds are freed.
    private var boxes: [PickleBox] = []
    private var storages: [TorchStorage] = []

    private init(_ bytes: UnsafeRawBufferPointer, what: String) {
        self.bytes = bytes
        self.what = what
    }

    /// What a pickle holds, and what it took to read it.
    struct Result {
        var value: PickleValue
        /// Bytes up to and including STOP (the legacy format has several pickles in a row).
        var length: Int
        /// Every storage a persistent id named, referenced by a tensor or not.
        var storages: [TorchStorage]
    }

    /// Interprets the pickle at the start of `bytes` and hands the result to `body`; the dicts
    /// and lists in it are valid only during the call.
    static func read<T>(_ bytes: UnsafeRawBufferPointer, what: String, _ body: (Result) throws -> T) throws -> T {
        var reader = PickleReader(bytes, what: what)
        defer { for b in reader.boxes { b.items = []; b.elements = [] } }
        let value = try reader.run()
        return try body(Result(value: value, length: reader.at, storages: reader.storages))
    }

    /// Globals that make a module's class (a whole pickled model) rather than tensors.
    static func isModelClass(_ module: String) -> Bool {
        module.hasPrefix("torchvision.") || module.hasPrefix("timm.") || module.hasPrefix("torch.nn.modules")
            || module == "torch.nn" || module.hasPrefix("torch.fx") || module.hasPrefix("__torch__")
    }

    private static let rebuildFunctions: Set<String> = [
        "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor", "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state", "torch._tensor._rebuild_from_type_v2", "torch.tensor._rebuild_from_type_v2",
    ]
    private static let typeMarkers: Set<String> = ["torch._tensor.Tensor", "torch.nn.parameter.Parameter", "torch.Tensor", "torch.Size"]
    private static let dtypeNames: Set<String> = [
        "float32", "float16", "bfloat16", "float64", "int64", "int32", "int16", "int8", "uint8", "bool",
    ]

    private func allowed(_ module: String, _ name: String) -> Bool {
        let full = "\(module).\(name)"
        if full == "collections.OrderedDict" || PickleReader.rebuildFunctions.contains(full) || PickleReader.typeMarkers.contains(full) {
            return true
        }
        if module == "torch", name.hasSuffix("Storage"), TorchDType(rawValue: String(name.dropLast(7))) != nil { return true }
        return module == "torch" && PickleReader.dtypeNames.contains(name)
    }

    // MARK: - Interpreter

    private mutating func run() throws -> PickleValue {
        while true {
            let position = at
            let op = try byte()
            switch op {
            case 0x80:  // PROTO
                let p = try byte()
                if p < 2 || p > 5 { throw fail("pickle protocol \(p) (torch.save writes 2)", at: position) }
            case 0x95:  // FRAME (protocol 4): a length hint only
                _ = try take(8)
            case 0x2E:  // STOP
                guard stack.count == 1, marks.isEmpty else {
                    throw fail("STOP with \(stack.count) values on the stack and \(marks.count) open marks", at: position)
                }
                return stack[0]
            case 0x28: marks.append(stack.count)  // MARK
            case 0x7D: try push(newBox(isList: false))  // EMPTY_DICT
            case 0x5D: try push(newBox(isList: true))  // EMPTY_LIST
            case 0x29: try push(try tuple([], at: position))  // EMPTY_TUPLE
            case 0x74: try push(try tuple(try popMark(), at: position))  // TUPLE
            case 0x85, 0x86, 0x87:  // TUPLE1, TUPLE2, TUPLE3
                let n = Int(op) - 0x84
                guard stack.count - (marks.last ?? 0) >= n else { throw fail("TUPLE\(n) needs \(n) values on the stack", at: position) }
                let items = Array(stack.suffix(n))
                stack.removeLast(n)
                try push(try tuple(items, at: position))
            case 0x4E: try push(.none)  // NONE
            case 0x88: try push(.bool(true))  // NEWTRUE
            case 0x89: try push(.bool(false))  // NEWFALSE
            case 0x4B: try push(.int(Int(try byte())))  // BININT1
            case 0x4D: try push(.int(Int(try uint(2))))  // BININT2
            case 0x4A: try push(.int(Int(Int32(truncatingIfNeeded: try uint(4)))))  // BININT
            case 0x8A:  // LONG1: little-endian two's complement, up to 8 bytes here
                let n = Int(try byte())
                guard n <= 8 else { throw fail("LONG1 of \(n) bytes does not fit 64 bits", at: position) }
                var v: UInt64 = 0
                for (i, b) in try take(n).enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
                if n > 0 && n < 8 && v & (1 << (8 * UInt64(n) - 1)) != 0 { v |= ~0 << (8 * UInt64(n)) }  // sign-extend
                try push(.int(Int(Int64(bitPattern: v))))
            case 0x47:  // BINFLOAT: big-endian double
                var v: UInt64 = 0
                for b in try take(8) { v = v << 8 | UInt64(b) }
                try push(.float(Double(bitPattern: v)))
            case 0x58: try push(.string(try text(Int(try uint(4)), at: position)))  // BINUNICODE
            case 0x8C: try push(.string(try text(Int(try byte()), at: position)))  // SHORT_BINUNICODE
            case 0x55: try push(.string(try text(Int(try byte()), at: position)))  // SHORT_BINSTRING (Python 2 str)
            case 0x54: try push(.string(try text(Int(try uint(4)), at: position)))  // BINSTRING
            case 0x63:  // GLOBAL "module\nname\n"
                let module = try line(), name = try line()
                try push(try global(module, name, at: position))
            case 0x93:  // STACK_GLOBAL (protocol 4)
                guard case let .string(name) = try pop(), case let .string(module) = try pop() else {
                    throw fail("STACK_GLOBAL needs two strings", at: position)
                }
                try push(try global(module, name, at: position))
            case 0x71: try put(Int(try byte()))  // BINPUT
            case 0x72: try put(Int(try uint(4)))  // LONG_BINPUT
            case 0x94: try put(memo.count)  // MEMOIZE
            case 0x68, 0x6A:  // BINGET, LONG_BINGET
                let index = Int(op == 0x68 ? UInt32(try byte()) : try uint(4))
                guard let v = memo[index] else { throw fail("memo entry \(index) read before it was written", at: position) }
                try push(v)
            case 0x51:  // BINPERSID
                let storage = try persistentStorage(try pop(), at: position)
                if case let .storage(s) = storage { storages.append(s) }
                try push(storage)
            case 0x52:  // REDUCE
                let args = try pop(), callable = try pop()
                try push(try call(callable, args, at: position))
            case 0x62:  // BUILD: only the OrderedDict's `_metadata` (module versions), ignored
                _ = try pop()
                guard case let .box(b) = try peek(), !b.isList else {
                    throw fail("BUILD on a \(try peek().kind); torch.save builds only OrderedDicts", at: position)
                }
            case 0x73:  // SETITEM
                let value = try pop(), key = try pop()
                try dict(at: position).items.append((key, value))
            case 0x75:  // SETITEMS
                let items = try popMark()
                guard items.count % 2 == 0 else { throw fail("SETITEMS with an odd number (\(items.count)) of values", at: position) }
                let d = try dict(at: position)
                for i in stride(from: 0, to: items.count, by: 2) { d.items.append((items[i], items[i + 1])) }
            case 0x61:  // APPEND
                let value = try pop()
                try list(at: position).elements.append(value)
            case 0x65:  // APPENDS
                let items = try popMark()
                try list(at: position).elements.append(contentsOf: items)
            default:
                throw fail("opcode 0x\(String(op, radix: 16)) is not one torch.save writes; refused without running it", at: position)
            }
        }
    }

    private mutating func global(_ module: String, _ name: String, at position: Int) throws -> PickleValue {
        if allowed(module, name) { return .global(module, name) }
        if PickleReader.isModelClass(module) {
            throw ConvertError("\(what) pickles a whole model (\(module).\(name)), not a state dict; it cannot be read without running its code. In Python, save the weights instead: torch.save(model.state_dict(), 'vgg.pth')")
        }
        throw ConvertError("\(what) refers to the global '\(module) \(name)', which is not one torch.save writes for tensors; the file is refused and nothing in it was run (if the file is yours, save only the weights: torch.save(model.state_dict(), path))")
    }

    /// `('storage', torch.<T>Storage, key, location, numel)`, and in the legacy format a sixth
    /// item: None or the view (view_key, offset, view_numel).
    private func persistentStorage(_ pid: PickleValue, at position: Int) throws -> PickleValue {
        guard case let .tuple(t, _) = pid, t.count == 5 || t.count == 6, case .string("storage") = t[0],
              case let .global(_, storageClass) = t[1], storageClass.hasSuffix("Storage"),
              let dtype = TorchDType(rawValue: String(storageClass.dropLast(7))),
              case let .string(key) = t[2], case .string = t[3], case let .int(count) = t[4], count >= 0 else {
            throw fail("a persistent id that is not ('storage', torch.<type>Storage, key, location, numel)", at: position)
        }
        var storage = TorchStorage(key: key, dtype: dtype, count: count)
        if t.count == 6 {
            switch t[5] {
            case .none: break
            case let .tuple(v, _) where v.count == 3:
                guard case let .int(offset) = v[1], case let .int(n) = v[2], offset >= 0, n >= 0, offset <= count, n <= count - offset else {
                    throw fail("a storage view that is not (key, offset, numel) inside its \(count)-element storage", at: position)
                }
                storage.view = (offset, n)
            default:
                throw fail("a storage view that is not None or (key, offset, numel)", at: position)
            }
        }
        return .storage(storage)
    }

    private mutating func call(_ callable: PickleValue, _ args: PickleValue, at position: Int) throws -> PickleValue {
        guard case let .global(module, name) = callable, case let .tuple(a, _) = args else {
            throw fail("REDUCE of a \(callable.kind) with \(args.kind) arguments", at: position)
        }
        switch "\(module).\(name)" {
        case "collections.OrderedDict":
            // Python 3 pickles OrderedDict() and then SETITEMS; Python 2 passes the items,
            // a list of [key, value] pairs (torch files saved from Python 2.7).
            let dict = newBox(isList: false)
            guard let items = a.first else { return dict }
            guard a.count == 1, case let .box(list) = items, list.isList, case let .box(d) = dict else {
                throw fail("OrderedDict called with \(a.count) arguments; expected none or a list of pairs", at: position)
            }
            for pair in list.elements {
                switch pair {
                case let .box(p) where p.isList && p.elements.count == 2: d.items.append((p.elements[0], p.elements[1]))
                case let .tuple(p, _) where p.count == 2: d.items.append((p[0], p[1]))
                default: throw fail("OrderedDict item is a \(pair.kind), not a [key, value] pair", at: position)
                }
            }
            return dict
        case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
            // (storage, storage_offset, size, stride[, requires_grad, backward_hooks[, metadata]]): v1 has the first four
            guard a.count >= 4, case let .storage(s) = a[0], case let .int(offset) = a[1],
                  let shape = ints(a[2]), let stride = ints(a[3]) else {
                throw fail("_rebuild_tensor_v2 arguments are not (storage, offset, size, stride, …)", at: position)
            }
            guard offset >= 0, shape.count == stride.count, shape.allSatisfy({ $0 >= 0 }) else {
                throw fail("tensor with offset \(offset), size \(shape), stride \(stride)", at: position)
            }
            return .tensor(TorchTensorView(storage: s, offset: offset, shape: shape, stride: stride))
        case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
            guard let first = a.first, case .tensor = first else { throw fail("\(name) of something that is not a tensor", at: position) }
            return first
        case "torch._tensor._rebuild_from_type_v2", "torch.tensor._rebuild_from_type_v2":
            // (func, type, args, state): the tensor func(*args) makes; a subclass's state is not needed.
            guard a.count == 4, case let .global(m, n) = a[0], !n.hasPrefix("_rebuild_from_type"), "\(m).\(n)" != "\(module).\(name)" else {
                throw fail("_rebuild_from_type_v2 arguments are not (rebuild function, type, args, state)", at: position)
            }
            let tensor = try call(a[0], a[2], at: position)
            guard case .tensor = tensor else { throw fail("_rebuild_from_type_v2 made a \(tensor.kind)", at: position) }
            return tensor
        default:
            throw fail("\(module).\(name) is not callable here (only tensor rebuilding and OrderedDict are)", at: position)
        }
    }

    private func ints(_ v: PickleValue) -> [Int]? {
        guard case let .tuple(items, _) = v else { return nil }
        var out = [Int]()
        for i in items {
            guard case let .int(x) = i else { return nil }
            out.append(x)
        }
        return out
    }

    // MARK: - Stack and memo

    static let maxDepth = 32

    private func tuple(_ items: [PickleValue], at position: Int) throws -> PickleValue {
        var depth = 1
        for case let .tuple(_, d) in items { depth = max(depth, d + 1) }
        guard depth <= PickleReader.maxDepth else { throw fail("tuples nested more than \(PickleReader.maxDepth) deep", at: position) }
        return .tuple(items, depth: depth)
    }

    private mutating func newBox(isList: Bool) -> PickleValue {
        let b = PickleBox(isList: isList)
        boxes.append(b)
        return .box(b)
    }

    private mutating func push(_ v: PickleValue) throws {
        guard stack.count < PickleReader.maxStack else { throw fail("more than \(PickleReader.maxStack) values on the stack", at: at) }
        stack.append(v)
    }

    private mutating func pop() throws -> PickleValue {
        guard let v = stack.last, stack.count > (marks.last ?? 0) else { throw fail("pop from an empty stack", at: at) }
        stack.removeLast()
        return v
    }

    private func peek() throws -> PickleValue {
        guard let v = stack.last, stack.count > (marks.last ?? 0) else { throw fail("the stack is empty", at: at) }
        return v
    }

    private mutating func popMark() throws -> [PickleValue] {
        guard let m = marks.popLast() else { throw fail("no MARK to pop to", at: at) }
        let items = Array(stack[m...])
        stack.removeLast(stack.count - m)
        return items
    }

    private mutating func put(_ index: Int) throws {
        guard memo.count < PickleReader.maxMemo || memo[index] != nil else { throw fail("more than \(PickleReader.maxMemo) memo entries", at: at) }
        memo[index] = try peek()
    }

    private func dict(at position: Int) throws -> PickleBox {
        guard case let .box(b) = try peek(), !b.isList else { throw fail("SETITEM(S) on a \(try peek().kind)", at: position) }
        return b
    }

    private func list(at position: Int) throws -> PickleBox {
        guard case let .box(b) = try peek(), b.isList else { throw fail("APPEND(S) on a \(try peek().kind)", at: position) }
        return b
    }

    // MARK: - Bytes

    private mutating func byte() throws -> UInt8 {
        guard at < bytes.count else { throw fail("the pickle ends without STOP", at: at) }
        defer { at += 1 }
        return bytes[at]
    }

    private mutating func take(_ n: Int) throws -> UnsafeRawBufferPointer {
        guard n >= 0, n <= bytes.count - at else { throw fail("a \(n)-byte argument runs past the end of the pickle", at: at) }
        defer { at += n }
        return UnsafeRawBufferPointer(rebasing: bytes[at..<(at + n)])
    }

    private mutating func uint(_ n: Int) throws -> UInt32 {
        var v: UInt32 = 0
        for (i, b) in try take(n).enumerated() { v |= UInt32(b) << (8 * UInt32(i)) }
        return v
    }

    private mutating func text(_ n: Int, at position: Int) throws -> String {
        let raw = try take(n)
        guard let s = String(validating: raw, as: UTF8.self) else { throw fail("a string that is not UTF-8", at: position) }
        return s
    }

    private mutating func line() throws -> String {
        guard let nl = bytes[at...].firstIndex(of: 0x0A), nl - at <= 256 else {
            throw fail("GLOBAL without a newline-terminated name", at: at)
        }
        let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[at..<nl]), as: UTF8.self)
        at = nl + 1
        return s
    }

    private func fail(_ message: String, at position: Int) -> ConvertError {
        ConvertError("\(what): pickle byte \(position): \(message)")
    }
}
