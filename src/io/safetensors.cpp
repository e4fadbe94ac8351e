// safetensors read/write. Layout: u64 little-endian header length N, N bytes of JSON header,
// then the data buffer; data_offsets are relative to the buffer. Every length, offset and size
// is checked (with overflow-checked arithmetic) before any byte is read, so a malformed or
// hostile file yields a useg::Error naming the file, never a crash.
//
// Decisions: rank-0 (scalar) tensors are read as Shape{1} (useg tensors have rank >= 1), so a
// scalar written by another tool comes back as shape [1] and is written back as [1]. Holes in
// the data buffer are tolerated on read (the reference writer never makes them); overlapping
// tensors are errors. We always write F32, header padded with spaces so the data starts at a
// multiple of 8 bytes, tensors stored contiguously in the order given.
#include "io/safetensors.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <set>

#include "config/safetensors_header.h"
#include "core/files.h"
#include "io/half.h"
#include "useg/error.h"

namespace useg {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100000000;  // 100 MB, the reference implementation's limit
// Integers (PyTorch counters such as BatchNorm's num_batches_tracked) are read as float.
constexpr const char* kSupported = "F32, F16, BF16, I64, I32";

uint64_t dtype_size(const std::string& dtype) {
  if (dtype == "F32") return 4;
  if (dtype == "F16" || dtype == "BF16") return 2;
  if (dtype == "I64") return 8;
  if (dtype == "I32") return 4;
  return 0;
}

uint64_t load_le(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

void store_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

std::string shape_str(const std::vector<uint64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string offsets_str(const SafetensorsEntry& e) {
  return "[" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
}

[[noreturn]] void fail(const std::string& source, const SafetensorsEntry& e,
                       const std::string& msg) {
  throw Error(source + ": tensor '" + e.name + "': " + msg);
}

// Checks dtype, shape and offsets of one entry against a buffer of `buffer_size` bytes.
void check_entry(const std::string& source, const SafetensorsEntry& e, uint64_t buffer_size) {
  uint64_t elem = dtype_size(e.dtype);
  if (elem == 0)
    fail(source, e, "unsupported dtype '" + e.dtype + "' (supported: " + kSupported + ")");
  uint64_t numel = 1;
  for (uint64_t d : e.shape)
    if (d > static_cast<uint64_t>(INT64_MAX) || __builtin_mul_overflow(numel, d, &numel))
      fail(source, e, "shape " + shape_str(e.shape) + " has too many elements");
  uint64_t bytes = 0;
  if (numel > static_cast<uint64_t>(INT64_MAX) || __builtin_mul_overflow(numel, elem, &bytes))
    fail(source, e, "shape " + shape_str(e.shape) + " has too many elements");
  if (e.begin > e.end)
    fail(source, e, "data_offsets " + offsets_str(e) + " are reversed (begin > end)");
  if (e.end > buffer_size)
    fail(source, e, "data_offsets " + offsets_str(e) + " run past the end of the data buffer (" +
                        std::to_string(buffer_size) + " bytes): the file is truncated or corrupt");
  if (e.end - e.begin != bytes)
    fail(source, e, "dtype " + e.dtype + " and shape " + shape_str(e.shape) + " need " +
                        std::to_string(bytes) + " bytes but data_offsets " + offsets_str(e) +
                        " hold " + std::to_string(e.end - e.begin));
}

void check_no_overlap(const std::string& source, std::vector<SafetensorsEntry> entries) {
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  for (size_t i = 1; i < entries.size(); ++i) {
    const SafetensorsEntry& a = entries[i - 1];
    const SafetensorsEntry& b = entries[i];
    if (b.begin < a.end)
      throw Error(source + ": tensors '" + a.name + "' " + offsets_str(a) + " and '" + b.name +
                  "' " + offsets_str(b) + " overlap in the data buffer");
  }
}

Tensor decode(const SafetensorsEntry& e, const unsigned char* data) {
  std::vector<int64_t> dims(e.shape.begin(), e.shape.end());
  if (dims.empty()) dims.push_back(1);  // scalar
  Tensor t = Tensor::empty(Shape(dims), Device::CPU);
  float* out = t.data();
  const int64_t n = t.numel();
  if (e.dtype == "F32") {
    for (int64_t i = 0; i < n; ++i)
      out[i] = bits_to_float(static_cast<uint32_t>(load_le(data + 4 * i, 4)));
  } else if (e.dtype == "F16") {
    for (int64_t i = 0; i < n; ++i)
      out[i] = half_to_float(static_cast<uint16_t>(load_le(data + 2 * i, 2)));
  } else if (e.dtype == "BF16") {
    for (int64_t i = 0; i < n; ++i)
      out[i] = bfloat16_to_float(static_cast<uint16_t>(load_le(data + 2 * i, 2)));
  } else if (e.dtype == "I64") {
    for (int64_t i = 0; i < n; ++i)
      out[i] = static_cast<float>(static_cast<int64_t>(load_le(data + 8 * i, 8)));
  } else {  // I32
    for (int64_t i = 0; i < n; ++i)
      out[i] = static_cast<float>(static_cast<int32_t>(load_le(data + 4 * i, 4)));
  }
  return t;
}

std::string serialize(const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata,
                      const std::string& context) {
  SafetensorsHeader header;
  header.metadata = metadata;
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name.empty()) throw Error(context + ": a tensor name is empty");
    if (name == "__metadata__") throw Error(context + ": '__metadata__' is not a tensor name");
    if (!names.insert(name).second)
      throw Error(context + ": duplicate tensor name '" + name + "'");
    if (!t.defined()) throw Error(context + ": tensor '" + name + "' is undefined");
    SafetensorsEntry e;
    e.name = name;
    e.dtype = "F32";
    for (int64_t d : t.shape().dims()) e.shape.push_back(static_cast<uint64_t>(d));
    e.begin = offset;
    e.end = offset += t.bytes();
    header.tensors.push_back(std::move(e));
  }
  std::string json;
  try {
    json = serialize_safetensors_header(header);
  } catch (const Error& err) {
    throw Error(context + ": " + err.what());
  }
  json.append((8 - json.size() % 8) % 8, ' ');  // data starts 8-byte aligned

  std::string out;
  out.reserve(8 + json.size() + offset);
  store_le(out, json.size(), 8);
  out += json;
  for (const auto& [name, t] : tensors) {
    Tensor host = t.to(Device::CPU);
    const float* p = host.data();
    for (int64_t i = 0; i < host.numel(); ++i) {
      uint32_t bits;
      std::memcpy(&bits, &p[i], 4);
      store_le(out, bits, 4);
    }
  }
  return out;
}

}  // namespace

SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& source) {
  const uint64_t size = bytes.size();
  if (size < 8)
    throw Error(source + ": not a safetensors file: " + std::to_string(size) +
                " bytes, shorter than the 8-byte header length");
  const auto* base = reinterpret_cast<const unsigned char*>(bytes.data());
  const uint64_t header_len = load_le(base, 8);
  if (header_len > kMaxHeaderBytes)
    throw Error(source + ": safetensors header length " + std::to_string(header_len) +
                " exceeds the 100 MB limit: the file is corrupt or not a safetensors file");
  if (header_len > size - 8)
    throw Error(source + ": safetensors header length " + std::to_string(header_len) +
                " runs past the end of the file (" + std::to_string(size - 8) +
                " bytes follow the length): the file is truncated or not a safetensors file");

  SafetensorsHeader header =
      parse_safetensors_header(bytes.substr(8, static_cast<size_t>(header_len)), source);
  const uint64_t buffer_size = size - 8 - header_len;
  for (const SafetensorsEntry& e : header.tensors) check_entry(source, e, buffer_size);
  check_no_overlap(source, header.tensors);

  SafetensorsFile file;
  file.metadata = std::move(header.metadata);
  const unsigned char* buffer = base + 8 + header_len;
  for (const SafetensorsEntry& e : header.tensors)
    file.tensors.emplace(e.name, decode(e, buffer + e.begin));
  return file;
}

SafetensorsFile read_safetensors(const std::string& path) {
  return parse_safetensors(read_file(path), path);
}

std::map<std::string, std::string> read_safetensors_metadata(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw Error("cannot open " + path);
  const uint64_t size = static_cast<uint64_t>(f.tellg());
  unsigned char len[8] = {};
  f.seekg(0);
  if (size < 8 || !f.read(reinterpret_cast<char*>(len), 8))
    throw Error(path + ": not a safetensors file: " + std::to_string(size) +
                " bytes, shorter than the 8-byte header length");
  const uint64_t header_len = load_le(len, 8);
  if (header_len > kMaxHeaderBytes)
    throw Error(path + ": safetensors header length " + std::to_string(header_len) +
                " exceeds the 100 MB limit: the file is corrupt or not a "
                "safetensors file");
  if (header_len > size - 8)
    throw Error(path + ": safetensors header length " + std::to_string(header_len) +
                " runs past the end of the file (" + std::to_string(size - 8) +
                " bytes follow the length): the file is truncated or not a "
                "safetensors file");
  std::string json(static_cast<size_t>(header_len), '\0');
  if (!f.read(json.data(), static_cast<std::streamsize>(header_len)))
    throw Error("cannot read " + path);
  SafetensorsHeader header = parse_safetensors_header(json, path);
  const uint64_t buffer_size = size - 8 - header_len;
  for (const SafetensorsEntry& e : header.tensors) check_entry(path, e, buffer_size);
  return std::move(header.metadata);
}

std::string serialize_safetensors(const std::vector<std::pair<std::string, Tensor>>& tensors,
                                  const std::map<std::string, std::string>& metadata) {
  return serialize(tensors, metadata, "cannot serialize safetensors");
}

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  write_file_atomic(path, serialize(tensors, metadata, "cannot write " + path));
}

}  // namespace useg
