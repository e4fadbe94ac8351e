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
#include <execinfo.h>
#include <sys/mman.h>
#include <unistd.h>

namespace cudacpu {

struct GuardState {
    int pkey = -1;  // -1: guard off
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

// The mapping of a guarded allocation of n bytes: its pages rounded up, then a PROT_NONE page;
// the pointer placed so that the allocation (rounded to 256 bytes, cudaMalloc's alignment) ends
// at that page. All of it follows from n, so nothing is stored per allocation.
struct GuardLayout {
    size_t used, data, page;
    explicit GuardLayout(size_t n)
        : used(((n ? n : 1) + 255) / 256 * 256), page((size_t)sysconf(_SC_PAGESIZE)) {
        data = (used + page - 1) / page * page;
    }
    char* base_of(void* p) const { return (char*)p - (data - used); }
};

// Device allocation: pages of their own, tagged with the key (GuardLayout). Returns false when
// the guard is off (the caller allocates host memory).
inline bool guard_alloc(void** p, size_t n, cudaError_t* err) {
    GuardState& g = guard();
    if (g.pkey < 0) return false;
    const GuardLayout l(n);
    void* base = mmap(nullptr, l.data + l.page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) { *p = nullptr; *err = cudaErrorMemoryAllocation; return true; }
    if (pkey_mprotect(base, l.data, PROT_READ | PROT_WRITE, g.pkey) != 0 ||
        mprotect((char*)base + l.data, l.page, PROT_NONE) != 0) {
        munmap(base, l.data + l.page);
        *p = nullptr; *err = cudaErrorMemoryAllocation; return true;
    }
    *p = (char*)base + (l.data - l.used);
    *err = cudaSuccess;
    return true;
}

// Frees a device allocation of n bytes made by guard_alloc (unmapped) or, with the guard off,
// by the host fallback (freed).
inline void guard_free(void* p, size_t n) {
    if (guard().pkey < 0) { free(p); return; }
    const GuardLayout l(n);
    munmap(l.base_of(p), l.data + l.page);
}

}  // namespace cudacpu
