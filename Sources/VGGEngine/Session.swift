// A session: the per-thread workspace for running one model. Used by one thread at a time.

public final class Session {
    /// Keeps the model (and its mapping) alive for as long as the session exists.
    public let model: Model
    public private(set) var threads: Int

    public init(model: Model, threads: Int = 1) {
        self.model = model
        self.threads = max(1, threads)
    }
}
