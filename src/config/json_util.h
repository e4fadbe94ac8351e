// A small strict JSON reader/writer shared by the config parsers (and the safetensors header).
// This folder is the only place that includes nlohmann/json; nothing here leaks into include/.
//
// Errors are useg::Error with the message "<source>: <key path>: <what was wrong>", e.g.
//   configs/x.json: model.depth: expected an integer, got string "4"
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace useg::cfg {

using Json = nlohmann::json;
using OJson = nlohmann::ordered_json;  // keeps insertion order when writing

// Where a value sits: the file (or "<string>") and its key path ("model.pool_sizes[1]").
class Where {
 public:
  explicit Where(std::string source, std::string path = "")
      : m_source(std::move(source)), m_path(std::move(path)) {}
  Where key(const std::string& k) const;
  Where index(size_t i) const;
  const std::string& path() const { return m_path; }
  const std::string& source() const { return m_source; }
  // Throws "<source>: <path>: <msg>" (or "<source>: <msg>" at the root).
  [[noreturn]] void fail(const std::string& msg) const;

 private:
  std::string m_source;
  std::string m_path;
};

// Parses JSON text. Syntax errors name the source and line:column; duplicate keys in an object
// are errors (nlohmann would silently keep the last one).
Json parse_json(const std::string& text, const std::string& source);

// "string \"4\"", "number 4.5", "boolean true", "null", "an array of 2", "an object".
std::string describe(const Json& j);

// Levenshtein distance and the "did you mean" helper: returns the closest candidate when it is
// close enough to be a plausible typo, else "".
size_t edit_distance(const std::string& a, const std::string& b);
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);
std::string join(const std::vector<std::string>& items, const char* sep = ", ");
// Shortest form of a number that reads back exactly ("0.001", "1e-05", "4").
std::string fmt_number(double v);

// Typed readers: check the JSON type and range of the C++ type, failing at `w`.
void read_value(const Where& w, const Json& j, int& out);
void read_value(const Where& w, const Json& j, uint64_t& out);
void read_value(const Where& w, const Json& j, double& out);
void read_value(const Where& w, const Json& j, float& out);
void read_value(const Where& w, const Json& j, bool& out);
void read_value(const Where& w, const Json& j, std::string& out);
void read_value(const Where& w, const Json& j, std::array<int, 3>& out);
void read_value(const Where& w, const Json& j, std::map<std::string, std::string>& out);
template <class T>
void read_value(const Where& w, const Json& j, std::vector<T>& out) {
  if (!j.is_array()) w.fail("expected an array, got " + describe(j));
  std::vector<T> v(j.size());
  for (size_t i = 0; i < j.size(); ++i) read_value(w.index(i), j[i], v[i]);
  out = std::move(v);
}
const char* type_name(const int&);
const char* type_name(const uint64_t&);
const char* type_name(const double&);
const char* type_name(const float&);
const char* type_name(const bool&);
const char* type_name(const std::string&);
const char* type_name(const std::array<int, 3>&);
const char* type_name(const std::map<std::string, std::string>&);
const char* type_name(const std::vector<int>&);
const char* type_name(const std::vector<double>&);
const char* type_name(const std::vector<std::string>&);
const char* type_name(const std::vector<std::array<int, 3>>&);
// "1 entry", "3 entries".
std::string count_of(size_t n, const char* singular, const char* plural);

// Writers. Floats are written with the fewest digits that read back to the same float
// (1e-5f -> 1e-05, not 9.999999747378752e-06).
OJson write_value(int v);
OJson write_value(uint64_t v);
OJson write_value(double v);
OJson write_value(float v);
OJson write_value(bool v);
OJson write_value(const std::string& v);
OJson write_value(const std::array<int, 3>& v);
OJson write_value(const std::map<std::string, std::string>& v);
template <class T>
OJson write_value(const std::vector<T>& v) {
  OJson a = OJson::array();
  for (const T& x : v) a.push_back(write_value(x));
  return a;
}

// Pretty printer: 2-space indent, one key per line, short arrays of scalars (and arrays of
// such arrays) on one line: "patch_size": [96, 96, 96]. Strings that are not valid UTF-8 are an
// error (Fail: a config must read back as written) or get U+FFFD for the bad bytes (Replace: a
// report naming a file in another encoding stays valid JSON).
enum class InvalidUtf8 { Fail, Replace };
std::string dump_pretty(const OJson& j, InvalidUtf8 invalid = InvalidUtf8::Fail);

}  // namespace useg::cfg
