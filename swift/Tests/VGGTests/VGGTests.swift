// The Swift binding against the installed libvgg, on the model VGG_TEST_MODEL names (make test
// passes the tiny fixture): every call agrees with the others' definitions, and errors come back
// as VGGError with the C status.
import Foundation
import VGG
import XCTest

final class VGGTests: XCTestCase {
    var modelPath: String = ""

    override func setUpWithError() throws {
        guard let path = ProcessInfo.processInfo.environment["VGG_TEST_MODEL"] else {
            XCTFail("set VGG_TEST_MODEL to a .vgg file with a classifier (make test passes build/fixtures/tiny.vgg)")
            throw VGGError(status: 1, message: "VGG_TEST_MODEL is not set")
        }
        modelPath = path
    }

    func input(_ count: Int, _ height: Int, _ width: Int, seed: UInt64 = 7) -> [Float] {
        var state = seed
        return (0..<(count * 3 * height * width)).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int(state >> 40) % 2001 - 1000) / 10
        }
    }

    func testModelDescribesItself() throws {
        let model = try Model(path: modelPath)
        XCTAssertGreaterThan(model.classCount, 0)
        XCTAssertEqual(model.layerNames.first, "conv1_1")
        XCTAssertEqual(model.layerNames.last, "fc8")
        let shape = try model.outputShape(height: model.inputHeight, width: model.inputWidth)
        XCTAssertEqual(shape.channels, model.classCount)
        XCTAssertEqual(shape.height, 1)
    }

    func testProbabilitiesAreTheSoftMaxOfTheAveragedScoreMap() throws {
        let model = try Model(path: modelPath)
        let session = try Session(model: model, threads: 2)
        let (h, w) = (model.inputHeight + 13, model.inputWidth + 7)
        let x = input(2, h, w)
        let scores = try session.forward(x, count: 2, height: h, width: w)
        let probabilities = try session.probabilities(x, count: 2, height: h, width: w)
        let shape = try model.outputShape(height: h, width: w)
        let plane = shape.height * shape.width, k = model.classCount
        XCTAssertEqual(scores.count, 2 * k * plane)
        for n in 0..<2 {
            let means = (0..<k).map { c in
                Double(scores[(n * k + c) * plane..<(n * k + c + 1) * plane].reduce(0, +)) / Double(plane)
            }
            let top = means.max() ?? 0
            let exps = means.map { exp($0 - top) }
            let sum = exps.reduce(0, +)
            for c in 0..<k {
                XCTAssertEqual(Double(probabilities[n * k + c]), exps[c] / sum, accuracy: 1e-5)
            }
        }
        // The last layer's features are the score map.
        let features = try session.features(x, count: 2, height: h, width: w, layers: ["fc8", "conv1_1"])
        XCTAssertEqual(features["fc8"], scores)
        XCTAssertEqual(features["conv1_1"]?.count, 2 * 8 * h * w)
    }

    func testClassifyRanksClassesLikeProbabilities() throws {
        let model = try Model(path: modelPath)
        let session = try model.makeSession()
        let (width, height) = (48, 40)
        let pixels = (0..<(width * height * 3)).map { UInt8(($0 * 37) % 251) }
        let top = try session.classify(pixels: pixels, width: width, height: height, top: 3)
        XCTAssertEqual(top.count, 3)
        XCTAssertGreaterThanOrEqual(top[0].probability, top[1].probability)
        XCTAssertGreaterThanOrEqual(top[1].probability, top[2].probability)
        let all = try session.classify(pixels: pixels, width: width, height: height, top: model.classCount)
        XCTAssertEqual(all.reduce(0) { $0 + $1.probability }, 1, accuracy: 1e-4)
        XCTAssertEqual(Array(all.prefix(3)), top)
    }

    func testErrorsCarryTheStatusAndMessage() throws {
        XCTAssertThrowsError(try Model(path: "/nonexistent/model.vgg")) { error in
            let e = error as? VGGError
            XCTAssertEqual(e?.status, 9)  // VGG_ERROR_NOT_FOUND
            XCTAssertTrue(e?.message.contains("/nonexistent/model.vgg") ?? false)
        }
        let model = try Model(path: modelPath)
        let session = try model.makeSession()
        XCTAssertThrowsError(try session.forward([1, 2, 3], height: 32, width: 32)) { error in
            XCTAssertEqual((error as? VGGError)?.status, 1)
        }
        XCTAssertThrowsError(try session.forward(input(1, 8, 8), height: 8, width: 8)) { error in
            XCTAssertEqual((error as? VGGError)?.status, 7)  // VGG_ERROR_INPUT_TOO_SMALL, from the library
        }
        XCTAssertThrowsError(try session.features(input(1, 32, 32), height: 32, width: 32, layers: ["conv1_1\u{0}x"])) { error in
            XCTAssertEqual((error as? VGGError)?.status, 1)
        }
        XCTAssertThrowsError(try session.features(input(1, 32, 32), height: 32, width: 32, layers: ["nope"])) { error in
            XCTAssertEqual((error as? VGGError)?.status, 9)
        }
        XCTAssertThrowsError(try session.setThreads(0))
    }

    func testOneModelSharedByThreads() throws {
        let model = try Model(path: modelPath)
        let (h, w) = (model.inputHeight, model.inputWidth)
        let x = input(1, h, w, seed: 3)
        let expected = try model.makeSession().probabilities(x, height: h, width: w)
        let results = UnsafeMutableBufferPointer<[Float]>.allocate(capacity: 4)
        results.initialize(repeating: [])
        defer { results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: 4) { i in
            results[i] = (try? model.makeSession().probabilities(x, height: h, width: w)) ?? []
        }
        for r in results { XCTAssertEqual(r, expected) }
    }
}
