"""One vgg.Model shared by several Python threads (its pool of sessions).

Each check runs in a child Python process: sharing one session between threads can kill the
interpreter, and a crash must show as a failed test, not as a dead test run.
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import vgg

PACKAGE_ROOT = str(Path(vgg.__file__).resolve().parent.parent)

# Single-thread results first, then the same calls from 8 threads of a ThreadPoolExecutor on the
# same Model (forward, features and classify mixed, several sizes): every result bit-identical.
SHARED = r"""
import sys
from concurrent.futures import ThreadPoolExecutor
import numpy as np
import vgg

m = vgg.Model(sys.argv[1], threads=int(sys.argv[2]))
rng = np.random.default_rng(7)
floats = [(rng.standard_normal((1 + i % 2, 3, h, w)) * 40).astype(np.float32)
          for i, (h, w) in enumerate([(64, 57), (35, 41), (96, 96), (48, 100)])]
pixels = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in [(50, 67), (90, 40), (33, 33)]]
tasks = [("forward", i) for i in range(4)] + [("features", i) for i in range(4)] + [("classify", i) for i in range(3)]

def run(task):
    kind, i = task
    if kind == "forward":
        return m.forward(floats[i])
    if kind == "features":
        return m.features(floats[i], ["conv2_1", "pool3"])
    return m.classify(pixels[i], top=3, scales=[32, 48])

def same(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return a == b

expected = {t: run(t) for t in tasks}
work = tasks * 6
with ThreadPoolExecutor(8) as pool:
    got = list(pool.map(run, work))
bad = [t for t, g in zip(work, got) if not same(g, expected[t])]
print(f"{len(work)} calls from 8 threads, {len(bad)} differ from one thread's: {bad[:5]}")
sys.exit(1 if bad else 0)
"""

# 4 threads call forward at once on a Model with max_sessions=4: a barrier inside the (wrapped)
# C call proves the 4 calls are in the library at the same time, each on a session of its own,
# with the options set on the Model; then an option changed on the Model reaches every session.
PARALLEL = r"""
import ctypes, sys, threading
import numpy as np
import vgg
from vgg import _lib

lib = _lib.lib
assert not isinstance(lib, ctypes.PyDLL), "ctypes calls must release the GIL"
m = vgg.Model(sys.argv[1], threads=2, max_sessions=4)
m.force_reference = True
m.winograd_tile = 4
x = (np.random.default_rng(3).standard_normal((1, 3, 64, 64)) * 40).astype(np.float32)
expected = m.forward(x)

original = lib.vgg_session_forward
gate = threading.Barrier(4, timeout=120)
seen = []

def forward_at_the_barrier(session, *args):
    options = []
    for option in (_lib.OPTION_THREADS, _lib.OPTION_FORCE_REFERENCE, _lib.OPTION_WINOGRAD):
        v = ctypes.c_int64()
        assert lib.vgg_session_get_option(session, option, ctypes.byref(v)) == 0
        options.append(v.value)
    seen.append((session.value, tuple(options)))
    gate.wait()  # breaks (and fails the run) unless 4 calls are in flight at once
    return original(session, *args)

def four_at_once():
    seen.clear()
    results = [None] * 4
    def call(i):
        results[i] = m.forward(x)
    threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
    for t in threads: t.start()
    for t in threads: t.join()
    assert all(r is not None and np.array_equal(r, expected) for r in results), "results differ"
    assert len({s for s, _ in seen}) == 4, f"4 concurrent calls ran on {len({s for s, _ in seen})} session(s)"
    return sorted(o for _, o in seen)

lib.vgg_session_forward = forward_at_the_barrier
try:
    options = four_at_once()
    assert options == [(2, 1, 4)] * 4, f"options on the sessions: {options}"
    m.threads = 1
    m.winograd_tile = 0
    options = four_at_once()
    assert options == [(1, 1, 1)] * 4, f"options after changing them on the Model: {options}"
finally:
    lib.vgg_session_forward = original
print("ok")
"""

# close() while 4 threads run calls: it waits for the running calls, later calls raise
# vgg.Error ("closed"), nothing crashes, and no call is inside the library once close() returns.
CLOSE = r"""
import sys, threading
import numpy as np
import vgg
from vgg import _lib

lib = _lib.lib
m = vgg.Model(sys.argv[1], max_sessions=4)
x = (np.random.default_rng(5).standard_normal((1, 3, 96, 96)) * 40).astype(np.float32)
original = lib.vgg_session_forward
inside = [0]
count = threading.Lock()
def counted(*args):
    with count: inside[0] += 1
    try:
        return original(*args)
    finally:
        with count: inside[0] -= 1
lib.vgg_session_forward = counted

started = threading.Barrier(5)
problems = []
def loop():
    started.wait()
    try:
        while True:
            m.forward(x)
    except vgg.Error as e:
        if "closed" not in str(e):
            problems.append(repr(e))
    except Exception as e:
        problems.append(repr(e))
threads = [threading.Thread(target=loop) for _ in range(4)]
for t in threads: t.start()
started.wait()
m.forward(x)
m.close()
with count: after = inside[0]
for t in threads: t.join()
assert after == 0, f"{after} call(s) still inside libvgg after close() returned"
assert not problems, problems
try:
    m.forward(x)
    sys.exit("a call after close() ran")
except vgg.Error as e:
    assert "closed" in str(e)
print("ok")
"""


def run_child(script, *args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [PACKAGE_ROOT, os.environ.get("PYTHONPATH")])))
    env.setdefault("VGG_LIBRARY", vgg.library_path() or "")
    r = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True,
                       env=env, timeout=600)
    assert r.returncode == 0, f"exit status {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr[-3000:]}"
    return r.stdout


def test_eight_threads_on_one_model_match_one_thread(factory):
    path, _ = factory.model("tiny")
    for threads in (1, 2):
        run_child(SHARED, path, threads)


def test_concurrent_calls_run_at_once_on_sessions_with_the_models_options(factory):
    path, _ = factory.model("tiny")
    assert run_child(PARALLEL, path).strip() == "ok"


def test_close_while_other_threads_run(factory):
    path, _ = factory.model("tiny")
    assert run_child(CLOSE, path).strip() == "ok"


def test_sessions_are_made_on_demand_and_bounded(factory):
    path, _ = factory.model("tiny")
    with vgg.Model(path, max_sessions=3) as m:
        assert m.max_sessions == 3 and m._sessions.size == 1
        for _ in range(5):
            m.forward(np.zeros((1, 3, 32, 32), np.float32))
        assert m._sessions.size == 1  # one caller at a time reuses one session
    assert vgg.Model(path).max_sessions == min(256, len(os.sched_getaffinity(0)))
