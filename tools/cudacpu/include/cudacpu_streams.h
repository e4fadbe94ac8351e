// cudacpu_streams.h -- streams that run late (included by cudacpu.h).
//
// On a GPU, work queued on a stream runs some time after the call that queued it, and two
// streams run in any order unless an event orders them. If every call ran at once, a missing
// cudaStreamSynchronize / cudaEventSynchronize / cudaStreamWaitEvent would never show here. So
// each stream created with cudaStreamCreate* is a queue, and its work (kernels, async copies and
// memsets, event records, waits) runs only when something needs it: a synchronization of the
// stream or of an event recorded on it, a wait on such an event by a stream that runs, a
// synchronous call on the legacy default stream (which waits for *blocking* streams only, as on
// a GPU), cudaDeviceSynchronize, or cudaFree. Streams thus run as late as CUDA allows, and a
// stream that reads what another one writes without waiting for it sees the old data.
//
// Copies follow CUDA's rules for their host memory: an async copy from pageable memory takes its
// source at the call (the driver stages it), one to pageable memory runs the stream first and
// returns when done; pinned memory (cudaMallocHost, cudaHostAlloc, cudaMallocManaged) is read
// and written when the copy runs -- so a staging buffer reused before its copy has run is caught.
// Work on the null stream (0, cudaStreamLegacy, cudaStreamPerThread) runs at once.
// CUDACPU_SYNC=1 runs everything at once again (to tell an ordering bug from another one).
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <type_traits>
#include <vector>

namespace cudacpu {

struct StreamState {
    bool blocking = true;   // synchronizes with the legacy default stream
    bool running = false;   // an op of this stream is executing (no re-entry)
    std::deque<std::function<void()>> ops;
    uint64_t enqueued = 0, done = 0;
};
struct EventState {
    StreamState* stream = nullptr;  // where its last record was queued (nullptr: completed)
    uint64_t seq = 0;               // that record's position in the stream
    double ms = 0;
};
struct DeviceState {
    std::recursive_mutex m;
    std::vector<StreamState*> streams;         // never freed: a queued wait may still name one
    std::map<uintptr_t, size_t> pinned;        // page-locked host allocations
    std::map<uintptr_t, size_t> device;        // cudaMalloc blocks
    bool eager = false;
    bool poison = true;   // new device memory holds 0xff bytes (float NaN): nothing may rely on zeros
};
inline DeviceState& dev() {
    static DeviceState* d = [] {
        auto* s = new DeviceState;
        const char* e = getenv("CUDACPU_SYNC");
        s->eager = e && strcmp(e, "0") != 0;
        const char* p = getenv("CUDACPU_POISON_DEVICE");
        s->poison = !(p && strcmp(p, "0") == 0);
        return s;
    }();
    return *d;
}
inline double now_ms() {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
inline StreamState* stream_state(cudaStream_t s) {
    const uintptr_t v = reinterpret_cast<uintptr_t>(s);
    return v <= 2 ? nullptr : reinterpret_cast<StreamState*>(s);
}
// Whether p lies in one of the ranges (or one past its end, as an end pointer may).
inline bool in_ranges(const std::map<uintptr_t, size_t>& ranges, const void* p) {
    std::lock_guard<std::recursive_mutex> lock(dev().m);
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    auto it = ranges.upper_bound(a);
    if (it == ranges.begin()) return false;
    --it;
    return a <= it->first + it->second;
}
inline bool is_pinned(const void* p) { return in_ranges(dev().pinned, p); }
inline bool is_device(const void* p) { return in_ranges(dev().device, p); }
inline void track(std::map<uintptr_t, size_t>& ranges, const void* p, size_t n) {
    std::lock_guard<std::recursive_mutex> lock(dev().m);
    ranges[reinterpret_cast<uintptr_t>(p)] = n ? n : 1;
}
// Removes p from the ranges; its size, or 0 when p was not there.
inline size_t untrack(std::map<uintptr_t, size_t>& ranges, const void* p) {
    std::lock_guard<std::recursive_mutex> lock(dev().m);
    auto it = ranges.find(reinterpret_cast<uintptr_t>(p));
    if (it == ranges.end()) return 0;
    const size_t n = it->second;
    ranges.erase(it);
    return n;
}
// cudaFree: a device block (the registry gives its size), else pinned or managed host memory.
inline void release(void* p) {
    if (const size_t n = untrack(dev().device, p)) { guard_free(p, n); return; }
    untrack(dev().pinned, p);
    free(p);
}

// A kernel argument that is a pointer must point into device, pinned or managed memory: on a
// GPU a kernel that dereferences any other host pointer faults. Checked at the launch, except in
// code that plays a device library on the host (inside a DeviceAccess scope).
template <class T>
inline void check_kernel_arg(const char* kernel, int index, const T& arg) {
    if constexpr (std::is_pointer_v<T> && !std::is_function_v<std::remove_pointer_t<T>>) {
        if (!arg || tl_device_access > 0 || is_device(arg) || is_pinned(arg)) return;
        fprintf(stderr, "cudacpu: argument %d of kernel %s is a host pointer %p (not from "
                        "cudaMalloc, cudaMallocHost, cudaHostAlloc or cudaMallocManaged); on a GPU "
                        "the kernel would fault\n", index, kernel, (const void*)arg);
        abort();
    }
}

// Runs s's queue up to position seq (the caller holds dev().m).
inline void run_until(StreamState* s, uint64_t seq) {
    if (!s || s->running) return;
    s->running = true;
    while (s->done < seq && !s->ops.empty()) {
        std::function<void()> op = std::move(s->ops.front());
        s->ops.pop_front();
        op();
        ++s->done;
    }
    s->running = false;
}
inline void flush_stream(StreamState* s) { if (s) run_until(s, s->enqueued); }
inline void flush_blocking() {
    for (StreamState* s : dev().streams) if (s->blocking) flush_stream(s);
}
inline void flush_all() {
    for (StreamState* s : dev().streams) flush_stream(s);
}

// Queues op on stream st (the null stream: runs it now, after the blocking streams).
inline void submit(cudaStream_t st, std::function<void()> op) {
    DeviceState& d = dev();
    std::lock_guard<std::recursive_mutex> lock(d.m);
    StreamState* s = stream_state(st);
    if (!s) { flush_blocking(); op(); return; }
    s->ops.push_back(std::move(op));
    ++s->enqueued;
    if (d.eager) flush_stream(s);
}
inline void sync_stream(cudaStream_t st) {
    std::lock_guard<std::recursive_mutex> lock(dev().m);
    if (StreamState* s = stream_state(st)) flush_stream(s); else flush_blocking();
}
inline void sync_device() {
    std::lock_guard<std::recursive_mutex> lock(dev().m);
    flush_all();
}

// A copy of n bytes on stream st, in CUDA's order (see the top of this file).
inline void copy_async(void* dst, const void* src, size_t n, cudaMemcpyKind kind, cudaStream_t st) {
    if (!n) return;
    std::lock_guard<std::recursive_mutex> lock(dev().m);
    StreamState* s = stream_state(st);
    // cudaMemcpyDefault: the side that is not a cudaMalloc block is host memory.
    const bool from_host = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyHostToHost ||
                           (kind == cudaMemcpyDefault && !is_device(src));
    const bool to_host = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyHostToHost ||
                         (kind == cudaMemcpyDefault && !is_device(dst));
    if (!s || (to_host && !is_pinned(dst))) {  // returns when done
        if (s) flush_stream(s); else flush_blocking();
        DeviceAccess a;
        memmove(dst, src, n);
        return;
    }
    if (from_host && !is_pinned(src)) {  // staged at the call
        auto staged = std::make_shared<std::vector<char>>(static_cast<const char*>(src), static_cast<const char*>(src) + n);
        submit(st, [dst, staged, n] { DeviceAccess a; memcpy(dst, staged->data(), n); });
        return;
    }
    submit(st, [dst, src, n] { DeviceAccess a; memmove(dst, src, n); });
}

}  // namespace cudacpu

extern "C" {
inline cudaError_t cudacpuHostAlloc(void** p, size_t n) { *p = nullptr; return posix_memalign(p, 256, n ? n : 1) == 0 ? cudaSuccess : cudaErrorMemoryAllocation; }  // exact size: ASan sees overruns
inline cudaError_t cudacpuPinnedAlloc(void** p, size_t n) {
    cudaError_t e = cudacpuHostAlloc(p, n);
    if (e == cudaSuccess) ::cudacpu::track(::cudacpu::dev().pinned, *p, n);
    return e;
}
inline cudaError_t cudaMalloc(void** p, size_t n) {  // guarded: cudacpu_guard.h
    cudaError_t e;
    if (!::cudacpu::guard_alloc(p, n, &e)) e = cudacpuHostAlloc(p, n);
    if (e != cudaSuccess) return e;
    ::cudacpu::track(::cudacpu::dev().device, *p, n);
    if (::cudacpu::dev().poison) { ::cudacpu::DeviceAccess a; memset(*p, 0xff, n); }  // NaN, not zeros
    return e;
}
inline cudaError_t cudaMallocManaged(void** p, size_t n, unsigned) { return cudacpuPinnedAlloc(p, n); }
inline cudaError_t cudaMallocHost(void** p, size_t n) { return cudacpuPinnedAlloc(p, n); }
inline cudaError_t cudaHostAlloc(void** p, size_t n, unsigned) { return cudacpuPinnedAlloc(p, n); }
inline cudaError_t cudaMallocAsync(void** p, size_t n, cudaStream_t) { return cudaMalloc(p, n); }
inline cudaError_t cudaFree(void* p) {  // synchronizes the device, as on a GPU
    ::cudacpu::sync_device();
    ::cudacpu::release(p);  // managed memory is freed here too
    return cudaSuccess;
}
inline cudaError_t cudaFreeHost(void* p) {
    ::cudacpu::sync_device();
    ::cudacpu::untrack(::cudacpu::dev().pinned, p);
    free(p);
    return cudaSuccess;
}
inline cudaError_t cudaFreeAsync(void* p, cudaStream_t s) {
    ::cudacpu::submit(s, [p] { ::cudacpu::release(p); });
    return cudaSuccess;
}
inline cudaError_t cudaMemcpy(void* d, const void* s, size_t n, cudaMemcpyKind k) { ::cudacpu::copy_async(d, s, n, k, nullptr); return cudaSuccess; }
inline cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind k, cudaStream_t st) { ::cudacpu::copy_async(d, s, n, k, st); return cudaSuccess; }
inline cudaError_t cudaMemcpy2D(void* d, size_t dp, const void* s, size_t sp, size_t w, size_t h, cudaMemcpyKind) {
    ::cudacpu::sync_stream(nullptr);
    ::cudacpu::DeviceAccess a;
    for (size_t r = 0; r < h; ++r) memmove((char*)d + r * dp, (const char*)s + r * sp, w);
    return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void* d, int v, size_t n, cudaStream_t st) {
    ::cudacpu::submit(st, [d, v, n] { ::cudacpu::DeviceAccess a; memset(d, v, n); });
    return cudaSuccess;
}
inline cudaError_t cudaMemset(void* d, int v, size_t n) { return cudaMemsetAsync(d, v, n, nullptr); }
inline cudaError_t cudaMemcpyToSymbol(const void* sym, const void* s, size_t n, size_t off, cudaMemcpyKind) { ::cudacpu::sync_stream(nullptr); ::cudacpu::DeviceAccess a; memcpy((char*)sym + off, s, n); return cudaSuccess; }
inline cudaError_t cudaMemcpyFromSymbol(void* d, const void* sym, size_t n, size_t off, cudaMemcpyKind) { ::cudacpu::sync_stream(nullptr); ::cudacpu::DeviceAccess a; memcpy(d, (const char*)sym + off, n); return cudaSuccess; }
inline cudaError_t cudaMemcpyToSymbolAsync(const void* sym, const void* s, size_t n, size_t off, cudaMemcpyKind k, cudaStream_t st) { ::cudacpu::sync_stream(st); return cudaMemcpyToSymbol(sym, s, n, off, k); }
inline cudaError_t cudaDeviceSynchronize() { ::cudacpu::sync_device(); return cudaSuccess; }
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags) {
    auto* st = new ::cudacpu::StreamState;
    st->blocking = !(flags & cudaStreamNonBlocking);
    std::lock_guard<std::recursive_mutex> l(::cudacpu::dev().m);
    ::cudacpu::dev().streams.push_back(st);
    *s = reinterpret_cast<cudaStream_t>(st);
    return cudaSuccess;
}
inline cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, cudaStreamDefault); }
inline cudaError_t cudaStreamDestroy(cudaStream_t s) { ::cudacpu::sync_stream(s); return cudaSuccess; }  // its work completes
inline cudaError_t cudaStreamSynchronize(cudaStream_t s) { ::cudacpu::sync_stream(s); return cudaSuccess; }
inline cudaError_t cudaStreamQuery(cudaStream_t s) { ::cudacpu::sync_stream(s); return cudaSuccess; }
inline cudaError_t cudaEventCreate(cudaEvent_t* e) { *e = reinterpret_cast<cudaEvent_t>(new ::cudacpu::EventState); return cudaSuccess; }
inline cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) { return cudaEventCreate(e); }
inline cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t st) {
    auto* ev = reinterpret_cast<::cudacpu::EventState*>(e);
    std::lock_guard<std::recursive_mutex> l(::cudacpu::dev().m);
    ::cudacpu::StreamState* s = ::cudacpu::stream_state(st);
    ev->stream = s;
    ::cudacpu::submit(st, [ev] { ev->ms = ::cudacpu::now_ms(); });
    if (s) ev->seq = s->enqueued;
    return cudaSuccess;
}
inline cudaError_t cudaEventSynchronize(cudaEvent_t e) {
    auto* ev = reinterpret_cast<::cudacpu::EventState*>(e);
    std::lock_guard<std::recursive_mutex> l(::cudacpu::dev().m);
    ::cudacpu::run_until(ev->stream, ev->seq);
    return cudaSuccess;
}
inline cudaError_t cudaEventQuery(cudaEvent_t e) { return cudaEventSynchronize(e); }
inline cudaError_t cudaEventDestroy(cudaEvent_t e) { cudaEventSynchronize(e); delete reinterpret_cast<::cudacpu::EventState*>(e); return cudaSuccess; }
inline cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
    cudaEventSynchronize(a); cudaEventSynchronize(b);
    *ms = (float)(reinterpret_cast<::cudacpu::EventState*>(b)->ms - reinterpret_cast<::cudacpu::EventState*>(a)->ms);
    return cudaSuccess;
}
inline cudaError_t cudaStreamWaitEvent(cudaStream_t st, cudaEvent_t e, unsigned) {
    auto* ev = reinterpret_cast<::cudacpu::EventState*>(e);
    std::lock_guard<std::recursive_mutex> l(::cudacpu::dev().m);
    ::cudacpu::StreamState* es = ev->stream;  // the record this wait refers to: the latest one now
    const uint64_t seq = ev->seq;
    ::cudacpu::submit(st, [es, seq] { ::cudacpu::run_until(es, seq); });
    return cudaSuccess;
}
}  // extern "C"
