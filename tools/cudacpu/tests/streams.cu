// Streams that run late (include/cudacpu_streams.h), driven by run-tests.sh. Each mode exits 0
// when the data comes out as the code intends and 1 when it does not; the modes with an ordering
// bug must come out wrong, as they may on a GPU.
//   ok            kernel, async copy to pinned memory, stream synchronize
//   with-wait     producer on stream A, consumer on stream B after cudaStreamWaitEvent
//   pageable      async copy from pageable memory, overwritten at once (the driver staged it)
//   pageable-default  the same with cudaMemcpyDefault (the direction inferred from the pointers)
//   missing-wait  (bug) the consumer on B does not wait for A
//   missing-sync  (bug) cudaMemcpy on the legacy stream does not wait for a non-blocking stream
//   pinned-reuse  (bug) a pinned staging buffer overwritten before its async copy ran
#include <cstdio>
#include <cstring>
__global__ void fill(float* y, int n, float v) { int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) y[i] = v; }
__global__ void twice(const float* x, float* y, int n) { int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) y[i] = 2.f * x[i]; }
int main(int argc, char** argv) {
    const char* mode = argc > 1 ? argv[1] : "ok";
    const int n = 512;
    cudaStream_t a, b;
    cudaStreamCreateWithFlags(&a, cudaStreamNonBlocking);
    cudaStreamCreateWithFlags(&b, cudaStreamNonBlocking);
    cudaEvent_t ev;
    cudaEventCreate(&ev);
    float *x, *y, *pinned;
    cudaMalloc(&x, n * sizeof(float));
    cudaMalloc(&y, n * sizeof(float));
    cudaMallocHost(&pinned, n * sizeof(float));
    cudaMemset(x, 0, n * sizeof(float));
    cudaMemset(y, 0, n * sizeof(float));
    float expect = 0.f, got = 0.f;
    if (!strcmp(mode, "ok")) {
        fill<<<4, 128, 0, a>>>(x, n, 3.f);
        cudaMemcpyAsync(pinned, x, n * sizeof(float), cudaMemcpyDeviceToHost, a);
        cudaStreamSynchronize(a);
        expect = 3.f; got = pinned[n - 1];
    } else if (!strcmp(mode, "with-wait") || !strcmp(mode, "missing-wait")) {
        fill<<<4, 128, 0, a>>>(x, n, 3.f);
        cudaEventRecord(ev, a);
        if (!strcmp(mode, "with-wait")) cudaStreamWaitEvent(b, ev, 0);
        twice<<<4, 128, 0, b>>>(x, y, n);
        cudaMemcpyAsync(pinned, y, n * sizeof(float), cudaMemcpyDeviceToHost, b);
        cudaStreamSynchronize(b);
        expect = 6.f; got = pinned[0];
    } else if (!strcmp(mode, "missing-sync")) {
        fill<<<4, 128, 0, a>>>(x, n, 3.f);
        float h = 0.f;
        cudaMemcpy(&h, x, sizeof h, cudaMemcpyDeviceToHost);
        expect = 3.f; got = h;
    } else if (!strncmp(mode, "pageable", 8) || !strcmp(mode, "pinned-reuse")) {
        float page[n];
        float* src = strncmp(mode, "pageable", 8) == 0 ? page : pinned;
        for (int i = 0; i < n; ++i) src[i] = 5.f;
        cudaMemcpyAsync(x, src, n * sizeof(float),
                        strcmp(mode, "pageable-default") == 0 ? cudaMemcpyDefault : cudaMemcpyHostToDevice, a);
        for (int i = 0; i < n; ++i) src[i] = -1.f;   // the bug, for pinned memory
        cudaStreamSynchronize(a);
        cudaMemcpy(&got, x + 9, sizeof got, cudaMemcpyDeviceToHost);
        expect = 5.f;
    } else {
        printf("unknown mode %s\n", mode); return 2;
    }
    printf("%s: %g (intended %g)\n", mode, got, expect);
    return got == expect ? 0 : 1;
}
