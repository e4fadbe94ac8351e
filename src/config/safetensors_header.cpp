#include "config/safetensors_header.h"

#include "config/json_util.h"
#include "useg/error.h"

namespace useg {
namespace {

using cfg::describe;
using cfg::Json;

constexpr size_t kMaxRank = 5;
const char* kMetadataKey = "__metadata__";

[[noreturn]] void fail_tensor(const std::string& source, const std::string& name,
                              const std::string& msg) {
  throw Error(source + ": tensor '" + name + "': " + msg);
}

uint64_t read_u64(const std::string& source, const std::string& name, const char* key,
                  const Json& v) {
  if (!v.is_number_unsigned())
    fail_tensor(source, name, std::string(key) + ": expected a non-negative integer, got " +
                                  describe(v));
  return v.get<uint64_t>();
}

SafetensorsEntry read_entry(const std::string& source, const std::string& name, const Json& j) {
  if (!j.is_object())
    fail_tensor(source, name, "expected an object {dtype, shape, data_offsets}, got " +
                                  describe(j));
  SafetensorsEntry e;
  e.name = name;
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!j.contains(key)) fail_tensor(source, name, std::string("missing '") + key + "'");
  const Json& dtype = j["dtype"];
  if (!dtype.is_string())
    fail_tensor(source, name, "dtype: expected a string, got " + describe(dtype));
  e.dtype = dtype.get<std::string>();
  const Json& shape = j["shape"];
  if (!shape.is_array())
    fail_tensor(source, name, "shape: expected an array of non-negative integers, got " +
                                  describe(shape));
  if (shape.size() > kMaxRank)
    fail_tensor(source, name, "shape has rank " + std::to_string(shape.size()) +
                                  "; useg supports ranks 0 to " + std::to_string(kMaxRank));
  for (const Json& d : shape) e.shape.push_back(read_u64(source, name, "shape", d));
  const Json& offsets = j["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2)
    fail_tensor(source, name, "data_offsets: expected [begin, end], got " + describe(offsets));
  e.begin = read_u64(source, name, "data_offsets", offsets[0]);
  e.end = read_u64(source, name, "data_offsets", offsets[1]);
  return e;
}

}  // namespace

SafetensorsHeader parse_safetensors_header(const std::string& json, const std::string& source) {
  // parse_json rejects duplicate keys, i.e. duplicate tensor names.
  Json j = cfg::parse_json(json, source + " (safetensors header)");
  if (!j.is_object())
    throw Error(source + ": the safetensors header must be a JSON object, got " + describe(j));
  SafetensorsHeader h;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == kMetadataKey) {
      if (!it->is_object())
        throw Error(source + ": __metadata__: expected an object of strings, got " +
                    describe(*it));
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string())
          throw Error(source + ": __metadata__." + m.key() + ": expected a string, got " +
                      describe(*m));
        h.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    h.tensors.push_back(read_entry(source, it.key(), *it));
  }
  return h;
}

std::string serialize_safetensors_header(const SafetensorsHeader& header) {
  cfg::OJson j = cfg::OJson::object();
  if (!header.metadata.empty()) j[kMetadataKey] = header.metadata;
  for (const SafetensorsEntry& e : header.tensors) {
    cfg::OJson t = cfg::OJson::object();
    t["dtype"] = e.dtype;
    t["shape"] = e.shape;
    t["data_offsets"] = {e.begin, e.end};
    j[e.name] = std::move(t);
  }
  try {
    return j.dump();
  } catch (const cfg::OJson::exception&) {
    throw Error("cannot write the safetensors header: a tensor name or metadata string is not "
                "valid UTF-8");
  }
}

}  // namespace useg
