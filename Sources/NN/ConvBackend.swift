import CDNNL
import BLAS
#if canImport(Glibc)
import Glibc
#endif

/// Which implementation runs `Conv2D`: im2col with one OpenBLAS GEMM per chunk of samples,
/// oneDNN's direct convolution kernels (tensors reordered from and to NCHW at each call), or
/// `auto`, each layer the one that was faster for its shape in the A/B of docs/performance.md
/// (`launch/bench-conv-ab.sh`): oneDNN for 3x3 kernels with at least 16 channels in and out
/// (1.5-2.3x faster there), im2col for the rest (a U-Net's stem and output layer, where oneDNN
/// was 1.7-3x slower, and 1x1 kernels, where they tie).
public enum ConvBackend: String, Sendable, CaseIterable {
    case auto
    case im2col
    case onednn

    /// The process-wide choice (`auto` unless changed; the CLI sets it from `EMD_CONV`). Set it
    /// before any network runs; a convolution with its own `backend` ignores it.
    nonisolated(unsafe) public static var current: ConvBackend = .auto

    /// The backend `auto` picks for a layer's shape.
    public static func automatic(inChannels: Int, outChannels: Int, kernel: Int) -> ConvBackend {
        kernel == 3 && inChannels >= 16 && outChannels >= 16 ? .onednn : .im2col
    }
}

/// oneDNN convolution handles (primitives, blocked buffers, scratchpad), one per shape, batch
/// size and thread count, made on first use and kept for the process. Layers of one shape share
/// a handle: a call keeps nothing between forward and backward (the backward pass is given x
/// again), and calls are serialised, as simulated ranks run on threads of one process.
final class OneDNNConvolutions: @unchecked Sendable {
    static let shared = OneDNNConvolutions()

    struct Key: Hashable {
        let batch, inChannels, height, width, outChannels, kernel, stride, threads: Int
    }

    private var handles: [Key: OpaquePointer] = [:]
    private var mutex = pthread_mutex_t()

    private init() { pthread_mutex_init(&mutex, nil) }

    /// Runs `body` with the handle for `conv` at `batch`, under the lock.
    func with<R>(_ conv: Conv2D, batch: Int, _ body: (OpaquePointer) -> R) -> R {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        let key = Key(batch: batch, inChannels: conv.inChannels, height: conv.height, width: conv.width,
                      outChannels: conv.outChannels, kernel: conv.kernel, stride: conv.stride, threads: BLAS.threads)
        if let handle = handles[key] { return body(handle) }
        var message = [CChar](repeating: 0, count: 256)
        guard let handle = emd_conv_create(Int32(batch), Int32(conv.inChannels), Int32(conv.height), Int32(conv.width),
                                           Int32(conv.outChannels), Int32(conv.kernel), Int32(conv.stride),
                                           Int32(key.threads), &message, message.count) else {
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            fatalError("oneDNN convolution \(key): \(text) (EMD_CONV=im2col avoids oneDNN)")
        }
        handles[key] = handle
        return body(handle)
    }

    /// The forward kernel oneDNN picked for `conv` at `batch`.
    func implementation(_ conv: Conv2D, batch: Int) -> String {
        with(conv, batch: batch) { String(cString: emd_conv_implementation($0)) }
    }
}

extension Conv2D {
    /// The backend this layer runs with: its own, else the process-wide one, `auto` resolved.
    public var resolvedBackend: ConvBackend {
        let chosen = backend ?? ConvBackend.current
        guard chosen == .auto else { return chosen }
        return ConvBackend.automatic(inChannels: inChannels, outChannels: outChannels, kernel: kernel)
    }

    /// The forward kernel oneDNN picks for this layer at `batch` (e.g. "jit:avx512_core").
    public func oneDNNImplementation(batch: Int) -> String {
        OneDNNConvolutions.shared.implementation(self, batch: batch)
    }
}
