import FileFormats
import Foundation
import XCTest

final class NPYTests: FileFormatsTestCase {
    func testRoundTrip() throws {
        for shape in [[], [0], [5], [2, 3, 4], [1, 1, 1, 1]] {
            let count = shape.reduce(1, *)
            let values = (0..<count).map { Float($0) * 0.25 - 3 }
            let data = try NPY.encode(shape: shape, values: values)
            XCTAssertEqual([UInt8](data.prefix(8)), [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
            XCTAssertEqual((data.count - count * 4) % 64, 0, "data must start 64-byte aligned")
            let decoded = try NPY.decode(data: data)
            XCTAssertEqual(decoded.shape, shape)
            XCTAssertEqual(decoded.values, values)
        }
        let path = temp("a.npy")
        try NPY.write(path: path, shape: [2, 2], values: [1, 2, 3, 4])
        XCTAssertEqual(try NPY.read(path: path).values, [1, 2, 3, 4])
    }

    func testNumpyReadsSwiftFile() throws {
        let path = temp("from_swift.npy")
        let values: [Float] = [1.5, -2, .pi, 1e-8, 3e38, -0.0]
        try NPY.write(path: path, shape: [2, 3], values: values)
        let script = """
        import json, sys
        import numpy as np
        a = np.load(sys.argv[1])
        print(json.dumps({"dtype": a.dtype.str, "shape": list(a.shape), "fortran": bool(np.isfortran(a)),
                          "values": [repr(x) for x in a.ravel().astype("float64").tolist()]}))
        """
        let result = try Python.json(script, [path])
        XCTAssertEqual(result["dtype"] as? String, "<f4")
        XCTAssertEqual(result["shape"] as? [Int], [2, 3])
        XCTAssertEqual(result["fortran"] as? Bool, false)
        XCTAssertEqual(doublesFromJSON(result["values"]), values.map(Double.init))
        let scalarPath = temp("scalar.npy")
        try NPY.write(path: scalarPath, shape: [], values: [7])
        XCTAssertEqual(try Python.json(script, [scalarPath])["shape"] as? [Int], [])
    }

    func testSwiftReadsNumpyFile() throws {
        let path = temp("from_numpy.npy")
        let script = """
        import json, sys
        import numpy as np
        a = np.random.default_rng(5).standard_normal((3, 4)).astype(np.float32)
        np.save(sys.argv[1], a)
        print(json.dumps({"values": [repr(x) for x in a.ravel().astype("float64").tolist()]}))
        """
        let expected = try Python.json(script, [path])
        let decoded = try NPY.read(path: path)
        XCTAssertEqual(decoded.shape, [3, 4])
        XCTAssertEqual(decoded.values.map(Double.init), doublesFromJSON(expected["values"]))
    }

    func npy(_ header: String, dataBytes: Int) -> Data {
        var data = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
        let h = Array(header.utf8)
        data.append(contentsOf: [UInt8(h.count & 0xFF), UInt8(h.count >> 8)])
        data.append(contentsOf: h)
        data.append(contentsOf: Array(repeating: 0, count: dataBytes))
        return data
    }

    func testRejections() {
        assertRejects(["a.npy", "missing \\x93NUMPY magic"]) { try NPY.decode(data: Data("hello world".utf8), path: "a.npy") }
        assertRejects(["unsupported dtype '<f8'"]) {
            try NPY.decode(data: npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }\n", dataBytes: 16))
        }
        assertRejects(["Fortran-order"]) {
            try NPY.decode(data: npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }\n", dataBytes: 16))
        }
        assertRejects(["shape [2, 3] needs 24 data bytes, file has 20"]) {
            try NPY.decode(data: npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", dataBytes: 20))
        }
        assertRejects(["overflows"]) {
            try NPY.decode(data: npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", dataBytes: 0))
        }
        assertRejects(["header length 1000 exceeds file size"]) {
            var d = npy("{}", dataBytes: 0)
            d[8] = 0xE8; d[9] = 0x03
            return try NPY.decode(data: d)
        }
        assertRejects(["header has no 'shape'"]) { try NPY.decode(data: npy("{'descr': '<f4', 'fortran_order': False}", dataBytes: 0)) }
        assertRejects(["nested too deeply"]) {
            try NPY.decode(data: npy("{'shape': " + String(repeating: "(", count: 1000) + "}", dataBytes: 0))
        }
        assertRejects(["does not match"]) { try NPY.encode(shape: [2, 2], values: [1]) }
    }
}
