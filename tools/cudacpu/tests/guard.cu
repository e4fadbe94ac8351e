// The device memory guard (include/cudacpu_guard.h), driven by run-tests.sh:
//   guard ok         kernels, cudaMemcpy, cudaMemset and CUB reach device memory; exits 0
//   guard host-read  host code reads a cudaMalloc pointer: must end with the guard's message
//   guard overrun    a kernel writes past its allocation's last 256-byte granule: must fault
//   guard host-arg   a kernel is given a plain host pointer: must be refused at the launch
//   guard active     exits 0 when the guard is on (the CPU and kernel have protection keys,
//                    CUDACPU_GUARD is not 0), else 2: host-read and overrun need it
#include <cstdio>
#include <cstring>
#include <cub/cub.cuh>
__global__ void fill(float* y, int n, float v) { int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) y[i] = v + i; }
__global__ void past_end(float* y, int n) { if (threadIdx.x == 0) y[n + 64] = 1.f; }
int main(int argc, char** argv) {
    const char* mode = argc > 1 ? argv[1] : "ok";
    if (!strcmp(mode, "active")) return cudacpu::guard().pkey >= 0 ? 0 : 2;
    const int n = 1000;
    float* d = nullptr;
    if (cudaMalloc(&d, n * sizeof(float)) != cudaSuccess || (reinterpret_cast<uintptr_t>(d) & 255)) { printf("cudaMalloc\n"); return 1; }
    if (!strcmp(mode, "host-read")) { printf("read %f\n", d[3]); return 0; }          // the bug
    if (!strcmp(mode, "overrun")) { past_end<<<1, 32>>>(d, n); cudaDeviceSynchronize(); return 0; }
    if (!strcmp(mode, "host-arg")) { static float host[n]; fill<<<8, 128>>>(host, n, 1.f); return 0; }
    float h[n];
    cudaMemset(d, 0, n * sizeof(float));
    fill<<<(n + 127) / 128, 128>>>(d, n, 2.f);
    cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost);
    for (int i = 0; i < n; ++i) if (h[i] != 2.f + i) { printf("element %d: %f\n", i, h[i]); return 1; }
    float* sum = nullptr;
    cudaMalloc(&sum, sizeof(float));
    size_t bytes = 0;
    cub::DeviceReduce::Sum(nullptr, bytes, d, sum, n);
    void* tmp = nullptr;
    cudaMalloc(&tmp, bytes);
    cub::DeviceReduce::Sum(tmp, bytes, d, sum, n);
    float s = 0;
    cudaMemcpy(&s, sum, sizeof s, cudaMemcpyDeviceToHost);
    if (s != 2.f * n + n * (n - 1) / 2.f) { printf("sum %f\n", s); return 1; }
    float* pinned = nullptr;  // pinned host memory stays readable from the host, and kernels may use it
    cudaMallocHost(&pinned, 2 * sizeof(float));
    cudaMemcpy(pinned, d + 7, sizeof(float), cudaMemcpyDeviceToHost);
    if (*pinned != 9.f) { printf("pinned %f\n", *pinned); return 1; }
    fill<<<1, 32>>>(pinned + 1, 1, 4.f);
    if (pinned[1] != 4.f) { printf("kernel into pinned memory: %f\n", pinned[1]); return 1; }
    cudaFreeHost(pinned); cudaFree(tmp); cudaFree(sum); cudaFree(d);
    printf("guard ok\n");
    return 0;
}
