#include "useg/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "core/host_memory.h"
#include "useg/error.h"

namespace useg {

const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::CPU;
  if (name == "cuda") return Device::CUDA;
  USEG_THROW("unknown device '" << name << "' (expected one of: cpu, cuda)");
}

// ---------------------------------------------------------------------------------- Shape
Shape::Shape(std::initializer_list<int64_t> dims) : Shape(std::vector<int64_t>(dims)) {}

Shape::Shape(const std::vector<int64_t>& dims) {
  USEG_CHECK(dims.size() <= static_cast<size_t>(kMaxRank),
             "shape of rank " << dims.size() << " exceeds the maximum rank " << kMaxRank);
  m_rank = static_cast<int>(dims.size());
  for (int i = 0; i < m_rank; ++i) {
    USEG_CHECK(dims[i] >= 0, "negative dimension " << dims[i] << " in shape");
    m_dims[i] = dims[i];
  }
}

int64_t Shape::operator[](int i) const {
  USEG_CHECK(i >= 0 && i < m_rank, "dimension index " << i << " out of range for " << str());
  return m_dims[i];
}
int64_t& Shape::operator[](int i) {
  USEG_CHECK(i >= 0 && i < m_rank, "dimension index " << i << " out of range for " << str());
  return m_dims[i];
}

int64_t Shape::numel() const {
  if (m_rank == 0) return 0;
  int64_t n = 1;
  for (int i = 0; i < m_rank; ++i) n *= m_dims[i];
  return n;
}

int64_t Shape::at5(int i) const {
  USEG_CHECK(m_rank == 5, "expected an NCDHW (rank-5) shape, got " << str());
  return m_dims[i];
}

bool Shape::operator==(const Shape& o) const {
  if (m_rank != o.m_rank) return false;
  for (int i = 0; i < m_rank; ++i)
    if (m_dims[i] != o.m_dims[i]) return false;
  return true;
}

std::string Shape::str() const {
  std::ostringstream os;
  os << "[";
  for (int i = 0; i < m_rank; ++i) os << (i ? ", " : "") << m_dims[i];
  os << "]";
  return os.str();
}

// ---------------------------------------------------------------------------- device hooks
namespace {
DeviceHooks g_cuda_hooks;

const DeviceHooks& cuda_hooks() {
  if (!g_cuda_hooks.allocate)
    USEG_THROW("no CUDA device support in this process: useg was built without CUDA, or the "
               "CUDA backend was not created (use --device cpu)");
  return g_cuda_hooks;
}
}  // namespace

void register_device_hooks(Device device, const DeviceHooks& hooks) {
  USEG_CHECK(device == Device::CUDA, "only CUDA device hooks can be registered");
  g_cuda_hooks = hooks;
}

// ---------------------------------------------------------------------------------- Tensor
Tensor Tensor::empty(const Shape& shape, Device device) {
  USEG_CHECK(shape.rank() > 0, "cannot allocate a tensor of rank 0");
  Tensor t;
  t.m_shape = shape;
  t.m_device = device;
  size_t bytes = t.bytes();
  if (device == Device::CPU) {
    t.m_storage = host_buffer(bytes);
  } else {
    const DeviceHooks& h = cuda_hooks();
    void* p = h.allocate(bytes);
    auto dealloc = h.deallocate;
    t.m_storage = std::shared_ptr<void>(p, [dealloc, bytes](void* q) { dealloc(q, bytes); });
  }
  t.m_data = static_cast<float*>(t.m_storage.get());
  return t;
}

Tensor Tensor::zeros(const Shape& shape, Device device) {
  Tensor t = empty(shape, device);
  if (device == Device::CPU)
    std::memset(t.m_data, 0, t.bytes());
  else
    cuda_hooks().memset_zero(t.m_data, t.bytes());
  return t;
}

Tensor Tensor::full(const Shape& shape, float value) {
  Tensor t = empty(shape, Device::CPU);
  std::fill(t.m_data, t.m_data + t.numel(), value);
  return t;
}

Tensor Tensor::wrap(float* data, const Shape& shape) {
  Tensor t;
  t.m_shape = shape;
  t.m_device = Device::CPU;
  t.m_data = data;
  return t;
}

Tensor Tensor::batch_slice(int64_t n0, int64_t count) const {
  USEG_CHECK(m_shape.rank() == 5, "batch_slice needs a rank-5 tensor, got " << m_shape.str());
  USEG_CHECK(n0 >= 0 && count >= 0 && n0 + count <= m_shape[0],
             "batch_slice [" << n0 << ", " << n0 + count << ") out of range for "
                             << m_shape.str());
  Tensor t = *this;
  int64_t per = m_shape.numel() / std::max<int64_t>(m_shape[0], 1);
  t.m_data = m_data + n0 * per;
  t.m_shape[0] = count;
  return t;
}

Tensor Tensor::reshaped(const Shape& shape) const {
  USEG_CHECK(shape.numel() == numel(),
             "cannot reshape " << m_shape.str() << " to " << shape.str());
  Tensor t = *this;
  t.m_shape = shape;
  return t;
}

Tensor Tensor::clone() const {
  Tensor t = empty(m_shape, m_device);
  if (m_device == Device::CPU)
    std::memcpy(t.m_data, m_data, bytes());
  else
    cuda_hooks().copy(t.m_data, m_data, bytes(), 2);
  return t;
}

Tensor Tensor::to(Device device) const {
  if (device == m_device) return *this;
  Tensor t = empty(m_shape, device);
  cuda_hooks().copy(t.m_data, m_data, bytes(), device == Device::CUDA ? 0 : 1);
  return t;
}

float& Tensor::at(int64_t n, int64_t c, int64_t d, int64_t h, int64_t w) {
  USEG_CHECK(m_device == Device::CPU, "Tensor::at needs a CPU tensor");
  const Shape& s = m_shape;
  return m_data[(((n * s.c() + c) * s.d() + d) * s.h() + h) * s.w() + w];
}

float Tensor::at(int64_t n, int64_t c, int64_t d, int64_t h, int64_t w) const {
  return const_cast<Tensor*>(this)->at(n, c, d, h, w);
}

std::vector<float> Tensor::to_vector() const {
  Tensor h = to(Device::CPU);
  return std::vector<float>(h.m_data, h.m_data + h.numel());
}

}  // namespace useg
