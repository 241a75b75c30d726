#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Limits of the whole process, set once as a command starts.
enum ProcessLimits {
    /// Raises the soft limit on open descriptors (`RLIMIT_NOFILE`) to the hard limit, so that the
    /// servers' connection caps, not a low default of 1024, decide how many sockets the process holds.
    /// Returns the soft limit in force afterwards (unchanged if it could not be raised).
    @discardableResult
    static func raiseDescriptorLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(resourceNumber, &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(resourceNumber, &raised) == 0 { limit = raised }
        }
        return Int(clamping: limit.rlim_cur)  // RLIM_INFINITY (all ones) clamps to Int.max
    }

    /// Keeps glibc's heap from holding on to freed transfer buffers. By default each thread that
    /// allocates gets its own arena (up to 8 per core), so the chunk- and read-sized buffers of a
    /// download end up kept in several arenas; two arenas keep the peak resident size near what is
    /// really in use (48.5 MiB before, 38.8 MiB after, for 1 GiB from 4 sources). The `mmap`
    /// threshold is fixed at 8 MiB: read buffers (up to 1 MiB) stay on the heap, as a fresh `mmap`
    /// per read costs page faults, and only larger blocks go back to the system on `free`.
    static func boundHeap() {
        #if canImport(Glibc)
        // `mallopt` is in <malloc.h>, which the Glibc module does not export: found at run time.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let library = dlopen(nil, RTLD_NOW), let symbol = dlsym(library, "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        let arenaMaximum: Int32 = -8, mmapThreshold: Int32 = -3      // M_ARENA_MAX, M_MMAP_THRESHOLD
        _ = mallopt(arenaMaximum, 2)
        _ = mallopt(mmapThreshold, 8 << 20)
        #endif
    }

    #if canImport(Glibc)
    private static let resourceNumber = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    private static let resourceNumber = RLIMIT_NOFILE
    #endif
}
