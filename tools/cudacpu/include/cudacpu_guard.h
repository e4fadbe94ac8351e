// cudacpu_guard.h -- device memory that host code cannot touch (included by cudacpu.h).
//
// On a GPU, host code that dereferences a cudaMalloc pointer crashes; under cudacpu device memory
// is host memory, so such a bug would pass every test and surface only on the first GPU run. Here
// each cudaMalloc allocation gets its own pages, tagged with an x86-64 memory protection key
// (Linux pkeys): a thread may read or write them only inside a kernel block, a cudaMemcpy /
// cudaMemset, a CUB device-wide call, or an explicit `cudacpu::DeviceAccess` scope (for code that
// emulates a device library, e.g. cuDNN). Anywhere else the access faults and the SIGSEGV handler
// names it: "cudacpu: host code accessed device memory at ...". A guard page after each
// allocation also stops a kernel that runs past its end (beyond the 256-byte rounding).
//
// Off (plain host memory, as before) under AddressSanitizer (whose exact-size allocations see
// overruns), with CUDACPU_GUARD=0, or where the CPU or kernel has no protection keys.
// Pinned and managed memory (cudaMallocHost, cudaHostAlloc, cudaMallocManaged) stay host memory.
#pragma once
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <execinfo.h>
#include <sys/mman.h>
#include <unistd.h>

namespace cudacpu {

struct GuardState {
    int pkey = -1;  // -1: guard off
    std::mutex m;
    struct Block { void* base; size_t bytes; size_t size; };
    std::unordered_map<void*, Block> blocks;  // user pointer -> its mapping
    struct sigaction previous {};
};
inline thread_local int tl_device_access = 0;  // nesting depth of DeviceAccess on this thread

inline void guard_fault(int sig, siginfo_t* info, void* ctx);

inline GuardState& guard() {
    static GuardState* g = [] {
        auto* s = new GuardState;  // never destroyed: frees may come from static destructors
#if !defined(__SANITIZE_ADDRESS__) && defined(__x86_64__) && defined(PKEY_DISABLE_ACCESS)
        const char* env = getenv("CUDACPU_GUARD");
        if (!(env && strcmp(env, "0") == 0)) {
            s->pkey = pkey_alloc(0, PKEY_DISABLE_ACCESS);  // this thread: no access from now on
            if (s->pkey >= 0) {
                struct sigaction sa {};
                sa.sa_sigaction = guard_fault;
                sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
                sigemptyset(&sa.sa_mask);
                sigaction(SIGSEGV, &sa, &s->previous);
            } else if (env) {
                fprintf(stderr, "cudacpu: CUDACPU_GUARD=%s but no memory protection keys (%s): "
                                "host access to device memory is not caught\n", env, strerror(errno));
            }
        }
#endif
        return s;
    }();
    return *g;
}

inline void set_device_access(bool on) {
#if defined(PKEY_DISABLE_ACCESS)
    int k = guard().pkey;
    if (k >= 0) pkey_set(k, on ? 0 : PKEY_DISABLE_ACCESS);
#else
    (void)on;
#endif
}

// Device memory is readable and writable on this thread while one of these lives (nests).
struct DeviceAccess {
    DeviceAccess() { if (tl_device_access++ == 0) set_device_access(true); }
    ~DeviceAccess() { if (--tl_device_access == 0) set_device_access(false); }
    DeviceAccess(const DeviceAccess&) = delete;
    DeviceAccess& operator=(const DeviceAccess&) = delete;
};

inline void guard_fault(int sig, siginfo_t* info, void* ctx) {
    GuardState& g = guard();
#ifdef SEGV_PKUERR
    if (info->si_code == SEGV_PKUERR) {
        char msg[256];
        int n = snprintf(msg, sizeof msg,
                         "cudacpu: host code accessed device memory at %p (a cudaMalloc pointer "
                         "read or written outside a kernel or cudaMemcpy); on a GPU this crashes. "
                         "Host stack:\n", info->si_addr);
        if (write(2, msg, (size_t)n) < 0) {}
        void* frames[48];
        backtrace_symbols_fd(frames, backtrace(frames, 48), 2);
        signal(SIGABRT, SIG_DFL);
        abort();
    }
#endif
    // Not ours (a guard page, or any other fault): the previous handler, or the default action.
    if (g.previous.sa_flags & SA_SIGINFO) {
        if (g.previous.sa_sigaction) { g.previous.sa_sigaction(sig, info, ctx); return; }
    } else if (g.previous.sa_handler != SIG_DFL && g.previous.sa_handler != SIG_IGN) {
        g.previous.sa_handler(sig);
        return;
    }
    signal(sig, SIG_DFL);  // returning re-runs the access, which now ends the process
}

// Device allocation: pages of their own (tagged with the key), a PROT_NONE page after them, the
// pointer placed so that the allocation (rounded to 256 bytes, cudaMalloc's alignment) ends at
// that page. Returns false when the guard is off (the caller allocates host memory).
inline bool guard_alloc(void** p, size_t n, cudaError_t* err) {
    GuardState& g = guard();
    if (g.pkey < 0) return false;
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t used = ((n ? n : 1) + 255) / 256 * 256;
    const size_t data = (used + page - 1) / page * page;
    void* base = mmap(nullptr, data + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) { *p = nullptr; *err = cudaErrorMemoryAllocation; return true; }
    if (pkey_mprotect(base, data, PROT_READ | PROT_WRITE, g.pkey) != 0 ||
        mprotect((char*)base + data, page, PROT_NONE) != 0) {
        munmap(base, data + page);
        *p = nullptr; *err = cudaErrorMemoryAllocation; return true;
    }
    *p = (char*)base + (data - used);
    std::lock_guard<std::mutex> lock(g.m);
    g.blocks[*p] = GuardState::Block{base, data + page, n};
    *err = cudaSuccess;
    return true;
}

// Frees a guarded allocation; false when p is not one (host memory from the fallbacks).
inline bool guard_free(void* p) {
    GuardState& g = guard();
    if (g.pkey < 0 || !p) return false;
    GuardState::Block b;
    {
        std::lock_guard<std::mutex> lock(g.m);
        auto it = g.blocks.find(p);
        if (it == g.blocks.end()) return false;
        b = it->second;
        g.blocks.erase(it);
    }
    munmap(b.base, b.bytes);
    return true;
}

}  // namespace cudacpu
