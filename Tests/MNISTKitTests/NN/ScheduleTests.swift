import MNISTKit
import XCTest

/// Each schedule at steps 0, 1, 50, 99, 100, 150, 250 and 1000 against the values
/// keras.optimizers.schedules (Keras 3.15, float32) and torch.optim.lr_scheduler.
/// OneCycleLR (PyTorch 2, cycle_momentum=False) printed for the same arguments.
final class ScheduleTests: XCTestCase {
    let steps = [0, 1, 50, 99, 100, 150, 250, 1000]

    func check(_ json: String, _ expected: [Double], steps: [Int]? = nil, file: StaticString = #filePath, line: UInt = #line) throws {
        let rate = try LearningRate(json: JSONParser.parse(json), path: "optimizer.learning_rate")
        for (step, value) in zip(steps ?? self.steps, expected) {
            XCTAssertEqual(rate.value(atStep: step), value, accuracy: 2e-7 + 1e-6 * value, "step \(step)", file: file, line: line)
        }
        // The spec round trip keeps the schedule.
        XCTAssertEqual(try LearningRate(json: rate.json, path: ""), rate, file: file, line: line)
    }

    func testExponentialDecay() throws {
        try check(#"{"type": "exponential_decay", "initial_learning_rate": 0.1, "decay_steps": 100, "decay_rate": 0.96}"#,
                  [0.1, 0.09995918720960617, 0.0979795902967453, 0.09603919833898544, 0.096, 0.09406040608882904, 0.09029798954725266, 0.06648325175046921])
        try check(#"{"type": "exponential_decay", "initial_learning_rate": 0.1, "decay_steps": 100, "decay_rate": 0.96, "staircase": true}"#,
                  [0.1, 0.1, 0.1, 0.1, 0.096, 0.096, 0.09216, 0.06648325175046921])
    }

    func testPiecewiseConstantDecay() throws {
        try check(#"{"type": "piecewise_constant_decay", "boundaries": [100, 200], "values": [1.0, 0.5, 0.1]}"#,
                  [1, 1, 1, 1, 1, 0.5, 0.1, 0.1])
    }

    func testPolynomialDecay() throws {
        try check(#"{"type": "polynomial_decay", "initial_learning_rate": 0.1, "decay_steps": 200, "end_learning_rate": 0.001, "power": 2}"#,
                  [0.1, 0.09901247173547745, 0.05668749660253525, 0.026247475296258926, 0.02575, 0.0071875001303851604, 0.001, 0.001])
        try check(#"{"type": "polynomial_decay", "initial_learning_rate": 0.1, "decay_steps": 200, "end_learning_rate": 0.001, "cycle": true}"#,
                  [0.1, 0.0995049998164177, 0.07525, 0.05099499598145485, 0.0505, 0.02575, 0.03812499716877937, 0.001])
    }

    func testInverseTimeDecay() throws {
        try check(#"{"type": "inverse_time_decay", "initial_learning_rate": 0.1, "decay_steps": 100, "decay_rate": 0.5}"#,
                  [0.1, 0.09950248897075653, 0.08, 0.06688963621854782, 0.06666667014360428, 0.05714285746216774, 0.04444444552063942, 0.01666666753590107])
        try check(#"{"type": "inverse_time_decay", "initial_learning_rate": 0.1, "decay_steps": 100, "decay_rate": 0.5, "staircase": true}"#,
                  [0.1, 0.1, 0.1, 0.1, 0.06666667014360428, 0.06666667014360428, 0.05, 0.01666666753590107])
    }

    func testCosineDecayWithAndWithoutWarmup() throws {
        try check(#"{"type": "cosine_decay", "initial_learning_rate": 0.1, "decay_steps": 200, "alpha": 0.1}"#,
                  [0.1, 0.09999445080757141, 0.08681981265544891, 0.05570682883262634, 0.055, 0.023180196061730385, 0.01, 0.01])
        try check(#"{"type": "cosine_decay", "initial_learning_rate": 0, "decay_steps": 200, "warmup_target": 0.1, "warmup_steps": 100}"#,
                  [0, 0.001, 0.05, 0.099, 0.1, 0.08535534143447876, 0.014644661918282509, 0])
    }

    func testOneCycleMatchesPyTorch() throws {
        let first10 = Array(0 ..< 10)
        try check(#"{"type": "one_cycle", "max_learning_rate": 0.1, "total_steps": 10}"#,
                  [0.004, 0.052, 0.1, 0.09504846320134738, 0.0811745653949763, 0.06112620219362893, 0.03887419780637107,
                   0.0188258346050237, 0.004951936798652629, 4e-07], steps: first10)
        try check(#"{"type": "one_cycle", "max_learning_rate": 0.1, "total_steps": 10, "three_phase": true}"#,
                  [0.004, 0.052, 0.1, 0.052, 0.004, 0.0036180721853510196, 0.0026181721853510195, 0.0013822278146489802,
                   0.0003823278146489803, 4e-07], steps: first10)
        try check(#"{"type": "one_cycle", "max_learning_rate": 0.1, "total_steps": 10, "anneal_strategy": "linear", "pct_start": 0.25}"#,
                  [0.004, 0.068, 0.09333336, 0.08000008, 0.0666668, 0.05333352, 0.04000024, 0.02666696, 0.01333368, 4e-07], steps: first10)
        // Given in epochs: the training's batches per epoch fix its length; past
        // the end the rate stays at its last value.
        let epochs = try LearningRate(json: JSONParser.parse(#"{"type": "one_cycle", "max_learning_rate": 0.1, "epochs": 2}"#), path: "")
        XCTAssertEqual(epochs.value(atStep: 9, stepsPerEpoch: 5), 4e-07, accuracy: 1e-12)
        XCTAssertEqual(epochs.value(atStep: 2, stepsPerEpoch: 5), 0.1, accuracy: 1e-12)
        XCTAssertEqual(epochs.value(atStep: 50, stepsPerEpoch: 5), 4e-07, accuracy: 1e-12)
    }

    func testBadSchedulesNameTheirPath() throws {
        func error(_ optimizer: String) -> String {
            do {
                _ = try ModelSpec.parse(#"{"layers": [{"type": "dense", "units": 10, "activation": "softmax"}], "loss": "categorical_crossentropy", "optimizer": \#(optimizer)}"#)
                return "no error"
            } catch { return error.description }
        }
        XCTAssertEqual(error(#"{"type": "adam", "learning_rate": {"type": "cosine_decai", "initial_learning_rate": 0.1, "decay_steps": 5}}"#),
                       #"optimizer.learning_rate.type: unknown schedule "cosine_decai"; did you mean "cosine_decay"? expected one of exponential_decay, piecewise_constant_decay, polynomial_decay, inverse_time_decay, cosine_decay, one_cycle"#)
        XCTAssertEqual(error(#"{"type": "adam", "learning_rate": {"type": "cosine_decay", "initial_learning_rate": 0.1}}"#),
                       "optimizer.learning_rate.decay_steps: missing; expected a positive number")
        XCTAssertEqual(error(#"{"type": "sgd", "learning_rate": {"type": "piecewise_constant_decay", "boundaries": [10], "values": [0.1]}}"#),
                       "optimizer.learning_rate.values: has 1 values for 1 boundaries; expected one more value than boundaries")
        XCTAssertEqual(error(#"{"type": "sgd", "learning_rate": {"type": "one_cycle", "max_learning_rate": 0.1}}"#),
                       "optimizer.learning_rate: give total_steps, or epochs (with steps_per_epoch, by default the training's batches per epoch), not both")
        XCTAssertEqual(error(#"{"type": "sgd", "learning_rate": -1}"#),
                       "optimizer.learning_rate: expected a positive number or a schedule object, got -1")
        XCTAssertEqual(error(#"{"type": "sgd", "clipnorm": 1, "clipvalue": 2}"#),
                       "optimizer.clipvalue: only one of clipnorm, global_clipnorm and clipvalue can be set (as in Keras); clipnorm is set too")
    }

    /// The optimizer evaluates the schedule at the step before each update, as
    /// Keras does (`learning_rate(iterations)`), so a resume needs only the step.
    func testOptimizerUsesTheRateOfItsStep() throws {
        var spec = OptimizerSpec.sgd(learningRate: 1, momentum: 0, nesterov: false)
        spec.learningRate = .piecewiseConstantDecay(boundaries: [0, 1], values: [1, 0.5, 0.25])
        let optimizer = Optimizer(spec: spec, parameterCount: 1)
        var w: [Float] = [0]
        for _ in 0 ..< 3 { w.withUnsafeMutableBufferPointer { optimizer.update(parameters: $0.baseAddress!, gradients: [-1], count: 1) } }
        // Steps 0, 1, 2 use 1, 0.5 and 0.25: w = 0 + 1 + 0.5 + 0.25.
        XCTAssertEqual(w[0], 1.75)
        XCTAssertEqual(optimizer.learningRate, 0.25)
    }
}
