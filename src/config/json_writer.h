// Writing JSON from anywhere in useg without including nlohmann/json: build a JsonValue (null,
// boolean, integer, number, string, array, object with keys in insertion order) and dump() it.
// json_writer.cpp turns the value into nlohmann's ordered_json and prints it with the config
// printer (src/config stays the only place that includes nlohmann/json), so strings are escaped
// by nlohmann and every file useg writes as JSON has the same layout.
//
//   JsonValue report = JsonValue::object();
//   report.set("model", dir).set("seconds", JsonValue::number(s, 10));
//   JsonValue cases = JsonValue::array();
//   cases.push_back(JsonValue::object().set("case", id).set("channels", 2));
//   report.set("cases", std::move(cases));
//   write_file_atomic(path, report.dump());
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace useg {

class JsonValue {
 public:
  enum class Kind { Null, Bool, Integer, Number, String, Array, Object };

  JsonValue() = default;  // null
  JsonValue(std::nullptr_t) {}
  JsonValue(bool v) : m_kind(Kind::Bool), m_bool(v) {}
  template <typename T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  JsonValue(T v) : m_kind(Kind::Integer), m_integer(static_cast<int64_t>(v)) {}
  // Written with the fewest digits that read back to exactly `v`; NaN and infinities as null.
  JsonValue(double v) : m_kind(Kind::Number), m_number(v) {}
  JsonValue(const char* s) : m_kind(Kind::String), m_string(s) {}
  JsonValue(std::string s) : m_kind(Kind::String), m_string(std::move(s)) {}
  // An array of the items converted one by one (numbers, strings, JsonValues, ...).
  template <typename T>
  JsonValue(const std::vector<T>& items) : m_kind(Kind::Array) {
    for (const T& item : items) m_items.emplace_back(item);
  }

  static JsonValue array() { return JsonValue(Kind::Array); }
  static JsonValue object() { return JsonValue(Kind::Object); }
  // `v` rounded to `significant_digits` digits as printf's "%.*g" rounds it: the text written
  // reads back to the same double as that printf text does (a whole number is written without a
  // fraction, as printf writes it); NaN and infinities as null.
  static JsonValue number(double v, int significant_digits);

  // Array: appends. Throws useg::Error when this is not an array.
  JsonValue& push_back(JsonValue item);
  // Object: sets `key` (replacing an earlier value, keeping its place). Throws useg::Error when
  // this is not an object. Returns *this, so that calls chain.
  JsonValue& set(const std::string& key, JsonValue value);

  Kind kind() const { return m_kind; }
  size_t size() const { return m_kind == Kind::Object ? m_members.size() : m_items.size(); }

  // The JSON text: 2-space indentation, one key per line, short arrays of scalars on one line,
  // a newline at the end (the layout of model.json). Strings are UTF-8: control characters are
  // escaped, other bytes written as they are, and bytes that are not valid UTF-8 (a file name in
  // another encoding) become U+FFFD, so that the text is always valid JSON.
  std::string dump() const;

 private:
  explicit JsonValue(Kind k) : m_kind(k) {}
  friend struct JsonValueAccess;  // json_writer.cpp reads the tree

  Kind m_kind = Kind::Null;
  bool m_bool = false;
  int64_t m_integer = 0;
  double m_number = 0;
  std::string m_string;
  std::vector<JsonValue> m_items;                            // Array
  std::vector<std::pair<std::string, JsonValue>> m_members;  // Object, in insertion order
};

}  // namespace useg
