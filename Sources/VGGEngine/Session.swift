// A session: the per-thread workspace, thread pool and options for running one model.
// Used by one thread at a time; keeps its model alive.
import VGGFormat

/// How a session computes the layers of bf16-weight models (VGG_OPTION_BF16_ARITHMETIC).
public enum BF16Arithmetic: Int, Sendable {
    /// f32 FMAs on the widened weights, like f32 models.
    case off = 0
    /// The fastest bf16 arithmetic the CPU has: the Winograd products of layers with input
    /// channels in multiples of 32 on AMX tiles where the process may use them
    /// (vggamx_available: Intel Sapphire Rapids and later); bf16 dot products where the CPU has
    /// AVX512-BF16 and runs them faster than f32 FMAs (vggbf16_full_rate: AMD); f32 elsewhere.
    case whereFaster = 1
    /// bf16 dot products (never AMX tiles) wherever the CPU has AVX512-BF16, even where slower
    /// (testing, comparing).
    case always = 2
}

public final class Session {
    public let model: Model
    public private(set) var threads: Int
    /// Run the naive reference kernels instead of the optimised ones.
    public var forceReference: Bool
    var pool: ThreadPool
    var kernels = KernelTable.best
    /// The requested ISA level (0 = best available), see `setISALevel`.
    public private(set) var isaLevel = 0
    // Ping-pong activation buffers and the tap-offset table of the pixel kernel.
    let bufferA = FloatBuffer(), bufferB = FloatBuffer(), scoreBuffer = FloatBuffer(), imageBuffer = FloatBuffer()
    var offsetTable: [Int] = []
    // The batched fc layers: each image's input to them, and per-pixel input/output offsets.
    let fcInput = FloatBuffer(), fcInputPairs = FloatBuffer()
    var pixelInputTable: [Int] = [], pixelOutputTable: [Int] = []
    /// A lone fc pixel's non-zero inputs: their taps (or bf16 tap pairs), then their values.
    let sparseInputs = FloatBuffer()
    /// Per worker, the sums of one OGROUP1024 group (runGroupedPixel).
    let groupSums = FloatBuffer()
    // Per worker scratch: Winograd's transformed inputs, pair weights and products, or the bf16
    // fc layers' packed weight pairs.
    var workerScratch: [FloatBuffer] = []
    /// Use Winograd for eligible layers where the kernels offer it.
    public var winogradEnabled = true
    /// Winograd tile side: 0 picks F(4×4) or F(6×6) per layer (Session.winogradTiles);
    /// 4 or 6 runs every Winograd layer with that tile (tests and measurements).
    public var winogradTileSize = 0
    /// How bf16-weight models compute (BF16Arithmetic); by default bf16 dot products only where
    /// they are faster than f32 FMAs.
    public var bf16Arithmetic = BF16Arithmetic.whereFaster

    /// Called after each layer of the fast path with (layer index, seconds), for `vgg bench
    /// --layers`; nil in normal use.
    public var layerTimer: ((Int, Double) -> Void)?

    /// Workspace bytes kept between runs (see `finishRun`); more is given back after the run.
    public var keptWorkspaceBytes = Session.defaultKeptWorkspaceBytes
    public static let defaultKeptWorkspaceBytes = 1 << 30

    /// Largest accepted input side and batch: far beyond any real use, small enough that
    /// every size computation stays exact.
    public static let maxSide = 1 << 16
    public static let maxBatch = 1 << 16

    public init(model: Model, threads: Int = 1) {
        self.model = model
        self.threads = max(1, threads)
        self.pool = ThreadPool(threads: max(1, threads))
        self.forceReference = KernelTable.referenceForcedByEnvironment
    }

    /// Sets the number of threads (1…256) used by each run.
    public func setThreads(_ n: Int) throws {
        guard n >= 1 && n <= 256 else { throw VGGError(.invalidArgument, "threads: expected 1…256, found \(n)") }
        if n != threads {
            pool = ThreadPool(threads: n)
            threads = n
        }
    }

    public var kernelPath: KernelPath { forceReference ? .reference : kernels.path }

    /// Selects the kernels of an ISA level: 0 the best this CPU runs, 1 baseline x86-64,
    /// 2 x86-64-v3, 3 x86-64-v4 (for testing and comparing the paths).
    public func setISALevel(_ level: Int) throws {
        guard level >= 0 && level <= 3 else { throw VGGError(.invalidArgument, "ISA level: expected 0…3, found \(level)") }
        guard let t = KernelTable.table(level: level) else {
            throw VGGError(.unsupported, "ISA level \(level) (\(level == 3 ? "x86-64-v4" : "x86-64-v3")) is not supported by this CPU (best: \(KernelTable.best.path.rawValue))")
        }
        kernels = t
        isaLevel = level
    }

    /// Workspace bytes a run of `n` images at this input size takes with the current options
    /// and threads (WorkspacePlan: the activation buffers, the fc layers' inputs, per-worker
    /// scratch, one score map for probabilities, and the model's kept Winograd weights this
    /// size's layers read, kept already or to be made within the model's budget). The
    /// reference path's own per-layer arrays are not counted.
    public func workspaceBytes(n: Int = 1, height: Int, width: Int) throws -> Int {
        try checkInput(n: n, height: height, width: width)
        let plan = try ForwardPlan(model: model, height: height, width: width, through: model.layers.count - 1)
        return workspacePlan(plan, n: n, scores: model.classCount > 0).bytes
    }

    /// Bytes the session's buffers hold now.
    public var heldWorkspaceBytes: Int {
        ([bufferA, bufferB, scoreBuffer, imageBuffer, fcInput, fcInputPairs, sparseInputs, groupSums] + workerScratch)
            .reduce(0) { $0 + $1.bytes }
    }

    /// Gives back every buffer of the session (the model's kept Winograd weights stay with
    /// the model); the next run allocates what it needs again.
    public func releaseWorkspace() {
        for b in [bufferA, bufferB, scoreBuffer, imageBuffer, fcInput, fcInputPairs, sparseInputs, groupSums] + workerScratch {
            b.release()
        }
    }

    /// The rule for memory after a run: a failed run gives back its workspace (it may have
    /// grown for a size that then failed), and so does a run whose workspace went past
    /// `keptWorkspaceBytes` (a one-off large input); otherwise it is kept for the next run.
    public func finishRun(failed: Bool) {
        if failed || heldWorkspaceBytes > keptWorkspaceBytes { releaseWorkspace() }
    }

    /// Reserves the workspace of a one-image run of the whole network at this size, so that an
    /// input too large for memory fails here, before the caller writes other buffers for the run.
    func reserveWorkspace(height: Int, width: Int) throws {
        let plan = try ForwardPlan(model: model, height: height, width: width, through: model.layers.count - 1)
        try reserveWorkspace(workspacePlan(plan, n: 1, scores: model.classCount > 0))
    }

    func checkInput(n: Int, height: Int, width: Int) throws {
        if n < 1 || n > Session.maxBatch { throw VGGError(.invalidArgument, "batch: expected 1…\(Session.maxBatch), found \(n)") }
        if height < 1 || height > Session.maxSide || width < 1 || width > Session.maxSide {
            throw VGGError(.invalidArgument, "input size: expected height and width in 1…\(Session.maxSide), found \(height)×\(width)")
        }
    }
}
