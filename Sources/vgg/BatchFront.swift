// The CLI front of the Python package's vgg.batch (Dask): `vgg features|classify ...
// --cluster local|ADDRESS` hands the job to `python3 -m vgg.batch` with the paths set.
import Glibc

/// Replaces this process with `python3 -m vgg.batch <arguments>`; returns only on failure.
func execBatch(_ arguments: [String]) -> Never {
    let exe = executableDirectory()
    // Installed layout: PREFIX/bin/vgg with PREFIX/lib/python3/site-packages; source checkout:
    // .build/<triple>/release/vgg-cli (what .build/release links to; /proc/self/exe names the
    // real directory) with python/ three levels up, or two from a build without the triple.
    let candidates = [exe + "/../lib/python3/site-packages", exe + "/../../../python", exe + "/../../python"]
    var pythonPath = candidates.filter { access($0 + "/vgg/batch.py", R_OK) == 0 }
    if let existing = getenv("PYTHONPATH").map({ String(cString: $0) }), !existing.isEmpty { pythonPath.append(existing) }
    setenv("PYTHONPATH", pythonPath.joined(separator: ":"), 1)
    if getenv("VGG_LIBRARY") == nil {
        for lib in [exe + "/../lib/libvgg.so.0", exe + "/libvgg.so"] where access(lib, R_OK) == 0 {
            setenv("VGG_LIBRARY", lib, 1)
            break
        }
    }
    let python = getenv("PYTHON").map { String(cString: $0) } ?? "python3"
    let argv = [python, "-m", "vgg.batch"] + arguments
    var cargs = argv.map { strdup($0) }
    cargs.append(nil)
    execvp(python, &cargs)
    fputs("vgg: cannot run \(python) for --cluster: \(String(cString: strerror(errno)))\n", stderr)
    exit(1)
}

func executableDirectory() -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard n > 0 else { return "." }
    let path = String(cString: buffer)
    return path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
}
