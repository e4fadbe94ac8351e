// Tensor: float32, row-major, NCDHW for activations (2D images have D = 1), with an explicit
// device. A Tensor is a cheap handle: copies share storage (like a shared_ptr); use clone() for
// a deep copy. Views (batch_slice, reshaped) share storage with their parent.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

namespace useg {

enum class Device { CPU, CUDA };
const char* device_name(Device d);
Device parse_device(const std::string& name);  // "cpu" | "cuda"; throws naming the choices

// A shape of rank 0..5. Activations are rank 5 (N, C, D, H, W).
class Shape {
 public:
  static constexpr int kMaxRank = 5;
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  explicit Shape(const std::vector<int64_t>& dims);
  static Shape ncdhw(int64_t n, int64_t c, int64_t d, int64_t h, int64_t w) {
    return Shape{n, c, d, h, w};
  }

  int rank() const { return m_rank; }
  int64_t operator[](int i) const;
  int64_t& operator[](int i);
  int64_t numel() const;
  std::vector<int64_t> dims() const { return {m_dims.begin(), m_dims.begin() + m_rank}; }

  // Accessors for rank-5 activation shapes (checked).
  int64_t n() const { return at5(0); }
  int64_t c() const { return at5(1); }
  int64_t d() const { return at5(2); }
  int64_t h() const { return at5(3); }
  int64_t w() const { return at5(4); }
  int64_t spatial() const { return d() * h() * w(); }

  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }
  std::string str() const;  // e.g. "[2, 3, 1, 64, 64]"

 private:
  int64_t at5(int i) const;
  std::array<int64_t, kMaxRank> m_dims{};
  int m_rank = 0;
};

class Tensor {
 public:
  Tensor() = default;  // undefined tensor: defined() is false

  // Uninitialized / zero-filled storage on a device. CUDA storage comes from the CUDA backend's
  // caching allocator; a build without CUDA throws a clear error.
  static Tensor empty(const Shape& shape, Device device = Device::CPU);
  static Tensor zeros(const Shape& shape, Device device = Device::CPU);
  static Tensor full(const Shape& shape, float value);  // CPU
  // Wraps host memory the caller keeps alive (no copy, no ownership).
  static Tensor wrap(float* data, const Shape& shape);

  bool defined() const { return m_shape.rank() > 0; }
  const Shape& shape() const { return m_shape; }
  int64_t numel() const { return m_shape.numel(); }
  size_t bytes() const { return static_cast<size_t>(numel()) * sizeof(float); }
  Device device() const { return m_device; }
  float* data() { return m_data; }
  const float* data() const { return m_data; }

  // Views sharing storage.
  Tensor batch_slice(int64_t n0, int64_t count) const;  // rows n0..n0+count of a rank-5 tensor
  Tensor reshaped(const Shape& shape) const;            // same numel

  // Deep copies.
  Tensor clone() const;
  Tensor to(Device device) const;  // returns *this when already on that device

  // Host element access (CPU tensors only; checked in debug-friendly way by at()).
  float& at(int64_t n, int64_t c, int64_t d, int64_t h, int64_t w);
  float at(int64_t n, int64_t c, int64_t d, int64_t h, int64_t w) const;
  std::vector<float> to_vector() const;  // copies to host

 private:
  std::shared_ptr<void> m_storage;
  float* m_data = nullptr;
  Shape m_shape;
  Device m_device = Device::CPU;
};

// Hooks a device backend installs so that Tensor can allocate and copy on its device.
struct DeviceHooks {
  void* (*allocate)(size_t bytes) = nullptr;
  void (*deallocate)(void* ptr, size_t bytes) = nullptr;
  // kind: 0 host->device, 1 device->host, 2 device->device
  void (*copy)(void* dst, const void* src, size_t bytes, int kind) = nullptr;
  void (*memset_zero)(void* dst, size_t bytes) = nullptr;
};
void register_device_hooks(Device device, const DeviceHooks& hooks);

}  // namespace useg
