import FileFormats
import Foundation
import XCTest

/// Checks against the reference implementation (`pip install safetensors numpy`).
final class SafeTensorsInteropTests: FileFormatsTestCase {
    func testPythonReadsSwiftFile() throws {
        let path = temp("from_swift.safetensors")
        try SafeTensorsTests.sampleFile().write(to: path)
        let script = """
        import json, sys
        from safetensors import safe_open
        from safetensors.numpy import load_file
        tensors = load_file(sys.argv[1])
        with safe_open(sys.argv[1], framework="np") as f:
            meta = f.metadata()
            keys = sorted(f.keys())
        out = {"metadata": meta, "keys": keys, "tensors": {
            k: {"dtype": str(v.dtype), "shape": list(v.shape), "values": [repr(x) for x in v.ravel().astype("float64").tolist()]}
            for k, v in tensors.items()}}
        out["step_exact"] = int(tensors["step"].item())
        print(json.dumps(out))
        """
        let result = try Python.json(script, [path])
        XCTAssertEqual(result["metadata"] as? [String: String], ["epoch": "12", "note": "quote \" backslash \\ newline \n ü"])
        XCTAssertEqual(result["keys"] as? [String], ["bias", "counts", "empty", "mask", "step", "weight"])
        XCTAssertEqual((result["step_exact"] as? NSNumber)?.int64Value, Int64.max)
        let tensors = try XCTUnwrap(result["tensors"] as? [String: [String: Any]])
        func check(_ name: String, _ dtype: String, _ shape: [Int], _ values: [Double]) {
            XCTAssertEqual(tensors[name]?["dtype"] as? String, dtype, name)
            XCTAssertEqual(tensors[name]?["shape"] as? [Int], shape, name)
            XCTAssertEqual(doublesFromJSON(tensors[name]?["values"]), values, name)
        }
        check("weight", "float32", [2, 3], ([1.5, -2, 3.25, 0, .pi, -1e-7] as [Float]).map(Double.init))
        check("bias", "float64", [3], [0.1, -0.2, 1e300])
        check("counts", "int32", [2], [-7, Double(Int32.min)])
        check("mask", "uint8", [5], [0, 1, 255, 7, 9])
        check("empty", "float32", [0, 4], [])
        XCTAssertEqual(tensors["step"]?["shape"] as? [Int], [])
        XCTAssertEqual(tensors["step"]?["dtype"] as? String, "int64")
    }

    func testSwiftReadsPythonFile() throws {
        let path = temp("from_python.safetensors")
        let script = """
        import json, sys
        import numpy as np
        from safetensors.numpy import save_file
        rng = np.random.default_rng(1234)
        tensors = {
            "layer.weight": rng.standard_normal((4, 5)).astype(np.float32),
            "layer.bias": rng.standard_normal(5).astype(np.float64),
            "ids": np.arange(-3, 4, dtype=np.int64),
            "pixels": rng.integers(0, 256, size=(2, 3), dtype=np.uint8),
            "scalar": np.array(2.5, dtype=np.float32),
            "nothing": np.zeros((3, 0), dtype=np.float32),
        }
        save_file(tensors, sys.argv[1], metadata={"format": "np", "step": "42"})
        print(json.dumps({k: {"shape": list(v.shape), "values": [repr(x) for x in v.ravel().astype("float64").tolist()]}
                          for k, v in tensors.items()}))
        """
        let expected = try Python.json(script, [path])
        let file = try SafeTensorsFile(path: path)
        XCTAssertEqual(file.metadata, ["format": "np", "step": "42"])
        XCTAssertEqual(Set(file.names), Set(expected.keys))
        func expectedValues(_ name: String) -> [Double] {
            doublesFromJSON((expected[name] as? [String: Any])?["values"]) ?? [.nan]
        }
        XCTAssertEqual(try file.floats(named: "layer.weight", shape: [4, 5]).map(Double.init), expectedValues("layer.weight"))
        XCTAssertEqual(try file.doubles(named: "layer.bias", shape: [5]), expectedValues("layer.bias"))
        XCTAssertEqual(try file.int64s(named: "ids", shape: [7]).map(Double.init), expectedValues("ids"))
        XCTAssertEqual(try file.entry(named: "pixels").uint8s().map(Double.init), expectedValues("pixels"))
        XCTAssertEqual(try file.floats(named: "scalar", shape: []), [2.5])
        XCTAssertEqual(try file.floats(named: "nothing", shape: [3, 0]), [])
    }
}
