// How much memory a run takes: every buffer a run of n images at height×width reserves,
// computed in one place (the `ggml_graph_plan` idea). A run reserves all of them before its
// first layer and each layer then claims its buffer without growing it; the workspace query
// sums the same plan, so the two cannot disagree (a layer asking for more than the plan gave
// it is an internal error, which the tests would meet).
import VGGFormat

struct WorkspacePlan {
    /// Floats (or 4-byte words) of each session buffer.
    var activationsA = 0, activationsB = 0
    var fcInput = 0, fcInputPairs = 0, sparseInputs = 0, groupSums = 0
    /// One probabilities score map (only when asked for: `Session.probabilities`).
    var scores = 0
    /// Per worker, and the workers that get one.
    var workerScratch = 0, workers = 0
    /// Words of transformed Winograd weights this size's layers read from the model: kept
    /// already, or to be made by the run within the model's budget. The model's, not the
    /// session's: made once and shared by all its sessions.
    var keptWeightWords = 0

    /// Floats the session's own buffers take.
    var sessionFloats: Int {
        activationsA + activationsB + fcInput + fcInputPairs + sparseInputs + groupSums + scores + workerScratch * workers
    }

    /// Bytes the workspace query reports: the session's buffers and the kept weights the run reads.
    var bytes: Int { (sessionFloats + keptWeightWords) * MemoryLayout<Float>.size }
}

extension Session {
    /// The buffers a run of `n` images at `plan`'s size needs with the session's options and
    /// threads (with `scores`, also probabilities' copy of one score map). The reference path
    /// reserves none: its per-layer arrays are its own.
    func workspacePlan(_ plan: ForwardPlan, n: Int, scores: Bool = false) -> WorkspacePlan {
        var w = WorkspacePlan()
        if scores, let last = plan.shapes.last { w.scores = last.count }
        if forceReference { return w }
        let stride = plan.bufferFloats, group = Session.imageGroup(n: n, imageFloats: stride)
        w.activationsA = group * stride
        w.activationsB = group * stride
        // Winograd layers: scratch for each group size the run meets (a ragged last group too).
        let groupSizes = Set([group, n % group]).subtracting([0])
        let tiles = winogradTiles(plan), firstFC = Session.fcStart(model: model, through: plan.last)
        var (kept, keptUsed) = model.keptWeights.locked { buffers, used in (Set(buffers.keys), used) }
        for site in winogradSites(plan) where site.index < firstFC ?? plan.last + 1 {
            var g = site.geometry(tileSize: tiles[site.index])
            for images in groupSizes {
                g.images = images
                w.workerScratch = max(w.workerScratch, WinogradPlan(&g, threads: pool.threadCount, bf16: site.bf16, amx: site.amx).scratchFloats)
            }
            let split = WinogradPlan(&g, threads: pool.threadCount, bf16: site.bf16, amx: site.amx)
            let words = Session.keptWeightWords(g, pairs: split.pairs, packed: site.bf16)
            let key = keptWeightsKey(site.weight, g, packed: site.bf16)
            if kept.contains(key) {
                w.keptWeightWords += words
            } else if keptUsed + words <= Session.keptWeightBudgetWords(packed: site.bf16) {
                w.keptWeightWords += words
                keptUsed += words
                kept.insert(key)
            }
        }
        // The fc layers: once for the whole batch, alternating between the two buffers.
        if let firstFC {
            w.fcInput = n * Session.blockedFloats(plan.shapes[firstFC - 1], plan.borders[firstFC - 1])
            for i in firstFC...plan.last {
                let l = model.layers[i], shape = plan.shapes[i]
                let outFloats = n * Session.blockedFloats(shape, plan.borders[i])
                if (i - firstFC) % 2 == 0 { w.activationsA = max(w.activationsA, outFloats) }
                else { w.activationsB = max(w.activationsB, outFloats) }
                guard let weight = l.weight else { continue }
                let pixels = n * shape.height * shape.width, taps = l.inChannels * l.kernelH * l.kernelW
                let amx = useAMXFC(weight, taps: taps, perImage: shape.height * shape.width)
                if useBF16(weight) || amx {  // runBatchedBF16
                    let pairs = (taps + 1) / 2
                    w.fcInputPairs = max(w.fcInputPairs, pixels * pairs)
                    w.workerScratch = max(w.workerScratch, Session.gatherTapChunk * 16)
                    if pixels == 1 && !amx { w.sparseInputs = max(w.sparseInputs, 2 * pairs) }
                    continue
                }
                let grouped = weight.layout == .oGroup1024
                if grouped && pixels == 1 { w.groupSums = pool.threadCount * VGGFile.outputGroup }  // runGroupedPixel
                if pixels == 1 || (grouped && pixels <= 8) { w.sparseInputs = max(w.sparseInputs, 2 * taps) }  // nonZeroInputs
            }
        }
        if w.workerScratch > 0 { w.workers = pool.threadCount }
        return w
    }

    /// Grows every buffer of the session to the plan (buffers larger from an earlier run stay
    /// as they are), before the run computes anything: an input too large for memory fails here.
    func reserveWorkspace(_ w: WorkspacePlan) throws {
        let sizes = [(bufferA, w.activationsA), (bufferB, w.activationsB), (fcInput, w.fcInput),
                     (fcInputPairs, w.fcInputPairs), (sparseInputs, w.sparseInputs), (groupSums, w.groupSums),
                     (scoreBuffer, w.scores)]
        for (buffer, floats) in sizes where floats > 0 { _ = try buffer.reserve(floats) }
        while workerScratch.count < w.workers { workerScratch.append(FloatBuffer()) }
        for i in 0..<w.workers { _ = try workerScratch[i].reserve(w.workerScratch) }
    }
}
