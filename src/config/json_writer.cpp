// JsonValue -> nlohmann::ordered_json -> text, with the config printer (json_util.cpp).
#include "config/json_writer.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "config/json_util.h"
#include "useg/error.h"

namespace useg {

struct JsonValueAccess {
  static cfg::OJson to_ojson(const JsonValue& v) {
    using Kind = JsonValue::Kind;
    switch (v.m_kind) {
      case Kind::Null: return nullptr;
      case Kind::Bool: return v.m_bool;
      case Kind::Integer: return v.m_integer;
      case Kind::Number:
        if (!std::isfinite(v.m_number)) return nullptr;
        return v.m_number;
      case Kind::String: return v.m_string;
      case Kind::Array: {
        cfg::OJson a = cfg::OJson::array();
        for (const JsonValue& item : v.m_items) a.push_back(to_ojson(item));
        return a;
      }
      case Kind::Object: {
        cfg::OJson o = cfg::OJson::object();
        for (const auto& [key, value] : v.m_members) o[key] = to_ojson(value);
        return o;
      }
    }
    return nullptr;
  }
};

JsonValue JsonValue::number(double v, int significant_digits) {
  USEG_REQUIRE(significant_digits >= 1 && significant_digits <= 17,
               "JsonValue::number: significant_digits must be 1..17, got " << significant_digits);
  if (!std::isfinite(v)) return JsonValue(v);
  char text[64];
  std::snprintf(text, sizeof text, "%.*g", significant_digits, v);
  const double r = std::strtod(text, nullptr);
  // A whole number below 10^digits is an integer to a reader: printf writes "3", not "3.0"
  // (larger ones it writes with an exponent, "1e+10").
  if (r == std::trunc(r) && std::fabs(r) < std::pow(10.0, significant_digits))
    return JsonValue(static_cast<int64_t>(r));
  return JsonValue(r);
}

JsonValue& JsonValue::push_back(JsonValue item) {
  USEG_REQUIRE(m_kind == Kind::Array, "JsonValue::push_back on a value that is not an array");
  m_items.push_back(std::move(item));
  return *this;
}

JsonValue& JsonValue::set(const std::string& key, JsonValue value) {
  USEG_REQUIRE(m_kind == Kind::Object,
               "JsonValue::set(\"" << key << "\") on a value that is not an object");
  for (auto& member : m_members)
    if (member.first == key) {
      member.second = std::move(value);
      return *this;
    }
  m_members.emplace_back(key, std::move(value));
  return *this;
}

std::string JsonValue::dump() const {
  return cfg::dump_pretty(JsonValueAccess::to_ojson(*this), cfg::InvalidUtf8::Replace);
}

}  // namespace useg
