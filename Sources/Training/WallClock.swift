#if canImport(Glibc)
import Glibc
#endif

/// Monotonic seconds, for step timing and time limits (no MPI needed).
public enum WallClock {
    public static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }
}
