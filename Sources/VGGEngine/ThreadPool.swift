// A persistent pool of worker threads for parallel loops: between calls workers spin briefly,
// then sleep on a condition variable; the calling thread takes part in the work. A spinning
// worker joins a new loop at once; a sleeping one only after a futex wake-up, by which time the
// caller may have done the short tasks of a small layer alone.
import Glibc
import Synchronization

final class ThreadPool {
    private(set) var threadCount = 1
    // pthread objects must not move: they live in manually allocated memory.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let done = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var threads: [pthread_t] = []
    // The current job, guarded by `mutex`.
    private var job: ((Int, Int) -> Void)?
    private var jobCount = 0
    private var nextIndex = 0
    private var busyWorkers = 0
    private var generation = 0
    private var shuttingDown = false
    // Mirrors of `generation` and `busyWorkers` for spinning without the mutex.
    private let publishedGeneration = Atomic<Int>(0)
    private let publishedBusy = Atomic<Int>(0)
    /// Polls before sleeping (of the order of 100 µs).
    private static let spinLimit = 100_000

    /// A pool running loops on `threads` threads in total (the caller included). If worker
    /// threads cannot be created the pool runs with fewer.
    init(threads wanted: Int) {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        pthread_cond_init(done, nil)
        // Workers hold an unretained reference: deinit joins them before the pool is freed.
        for index in 1..<max(1, wanted) {
            var t = pthread_t()
            let context = UnsafeMutablePointer<WorkerStart>.allocate(capacity: 1)
            context.initialize(to: WorkerStart(pool: Unmanaged.passUnretained(self), index: threads.count + 1))
            let rc = pthread_create(&t, nil, { raw in
                guard let raw else { return nil }
                let start = raw.assumingMemoryBound(to: WorkerStart.self)
                let (pool, index) = (start.pointee.pool, start.pointee.index)
                start.deallocate()
                pool.takeUnretainedValue().workerLoop(index: index)
                return nil
            }, context)
            if rc == 0 { threads.append(t) } else { context.deallocate() }
            _ = index
        }
        threadCount = threads.count + 1
    }

    /// Runs `body(i)` for every i in 0..<count across the pool; returns when all are done.
    func parallelFor(_ count: Int, _ body: @escaping (Int) -> Void) {
        parallelFor(count) { i, _ in body(i) }
    }

    /// Runs `body(i, worker)` for every i in 0..<count; `worker` (0 for the calling thread,
    /// 1… for pool threads, below `threadCount`) lets the body use per-thread scratch memory.
    func parallelFor(_ count: Int, _ body: @escaping (Int, Int) -> Void) {
        if count <= 0 { return }
        if threadCount == 1 || count == 1 {
            for i in 0..<count { body(i, 0) }
            return
        }
        pthread_mutex_lock(mutex)
        job = body
        jobCount = count
        nextIndex = 0
        generation &+= 1
        publishedGeneration.store(generation, ordering: .releasing)
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
        runJobItems(body, worker: 0)
        var spins = 0
        while publishedBusy.load(ordering: .acquiring) > 0 && spins < ThreadPool.spinLimit { spins &+= 1 }
        pthread_mutex_lock(mutex)
        while busyWorkers > 0 { pthread_cond_wait(done, mutex) }
        job = nil
        pthread_mutex_unlock(mutex)
    }

    private func takeIndex() -> Int? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        if nextIndex < jobCount {
            nextIndex += 1
            return nextIndex - 1
        }
        return nil
    }

    private func runJobItems(_ body: (Int, Int) -> Void, worker: Int) {
        while let i = takeIndex() { body(i, worker) }
    }

    private func workerLoop(index: Int) {
        var seen = 0
        pthread_mutex_lock(mutex)
        while true {
            pthread_mutex_unlock(mutex)
            var spins = 0
            while publishedGeneration.load(ordering: .acquiring) == seen && spins < ThreadPool.spinLimit { spins &+= 1 }
            pthread_mutex_lock(mutex)
            while !shuttingDown && (generation == seen || job == nil) { pthread_cond_wait(wake, mutex) }
            if shuttingDown { break }
            seen = generation
            guard let body = job else { continue }
            busyWorkers += 1
            publishedBusy.store(busyWorkers, ordering: .releasing)
            pthread_mutex_unlock(mutex)
            runJobItems(body, worker: index)
            pthread_mutex_lock(mutex)
            busyWorkers -= 1
            publishedBusy.store(busyWorkers, ordering: .releasing)
            if busyWorkers == 0 { pthread_cond_broadcast(done) }
        }
        pthread_mutex_unlock(mutex)
    }

    deinit {
        pthread_mutex_lock(mutex)
        shuttingDown = true
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
        for t in threads { pthread_join(t, nil) }
        pthread_cond_destroy(wake)
        pthread_cond_destroy(done)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        wake.deallocate()
        done.deallocate()
    }
}

/// What a new worker thread needs: its pool (unretained: deinit joins the threads) and index.
private struct WorkerStart {
    let pool: Unmanaged<ThreadPool>
    let index: Int
}
