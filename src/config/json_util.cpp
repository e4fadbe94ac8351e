#include "config/json_util.h"

#include <algorithm>
#include <cctype>
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "useg/error.h"

namespace useg::cfg {

// ------------------------------------------------------------------------------ Where
Where Where::key(const std::string& k) const {
  return Where(m_source, m_path.empty() ? k : m_path + "." + k);
}

Where Where::index(size_t i) const {
  return Where(m_source, m_path + "[" + std::to_string(i) + "]");
}

void Where::fail(const std::string& msg) const {
  if (m_path.empty()) throw Error(m_source + ": " + msg);
  // An index right below the root reads as "--patch-size[1]: ...".
  if (m_path[0] == '[') throw Error(m_source + m_path + ": " + msg);
  throw Error(m_source + ": " + m_path + ": " + msg);
}

// -------------------------------------------------------------------------------- parsing
namespace {

constexpr int kMaxNesting = 64;

// Converts nlohmann's byte position (1-based count of bytes read) into line:column.
std::string line_col(const std::string& text, size_t byte) {
  size_t pos = std::min(byte == 0 ? 0 : byte - 1, text.size());
  size_t line = 1 + static_cast<size_t>(std::count(text.begin(), text.begin() + pos, '\n'));
  size_t last_nl = pos == 0 ? std::string::npos : text.rfind('\n', pos - 1);
  size_t col = last_nl == std::string::npos ? pos + 1 : pos - last_nl;
  return std::to_string(line) + ":" + std::to_string(col);
}

// nlohmann's what(): "[json.exception.parse_error.101] parse error at line 1, column 2: <reason>".
std::string parse_reason(const std::string& what) {
  size_t p = what.find("parse error");
  if (p != std::string::npos) {
    size_t colon = what.find(": ", p);
    if (colon != std::string::npos) return what.substr(colon + 2);
  }
  size_t bracket = what.find("] ");
  return bracket == std::string::npos ? what : what.substr(bracket + 2);
}

// Tracks the key path while nlohmann parses, to reject duplicate keys and absurd nesting.
struct PathTracker {
  struct Frame {
    bool is_object;
    std::set<std::string> keys;
    std::string key;
    size_t count = 0;  // finished elements (arrays)
  };
  std::vector<Frame> stack;
  const std::string* source;

  std::string path_to(const std::string& key) const {
    std::string p;
    for (size_t i = 0; i + 1 < stack.size(); ++i) {
      const Frame& f = stack[i];
      if (f.is_object) p += (p.empty() ? "" : ".") + f.key;
      else p += "[" + std::to_string(f.count) + "]";
    }
    return p.empty() ? key : p + "." + key;
  }
  void element_done() {
    if (!stack.empty() && !stack.back().is_object) ++stack.back().count;
  }
  bool on_event(Json::parse_event_t ev, const Json& parsed) {
    using E = Json::parse_event_t;
    switch (ev) {
      case E::object_start:
      case E::array_start:
        if (stack.size() >= static_cast<size_t>(kMaxNesting))
          throw Error(*source + ": JSON nested deeper than " + std::to_string(kMaxNesting) +
                      " levels");
        stack.push_back(Frame{ev == E::object_start, {}, {}, 0});
        break;
      case E::key: {
        Frame& f = stack.back();
        f.key = parsed.is_string() ? parsed.get<std::string>() : std::string();
        if (!f.keys.insert(f.key).second)
          throw Error(*source + ": duplicate key '" + path_to(f.key) + "'");
        break;
      }
      case E::object_end:
      case E::array_end:
        stack.pop_back();
        element_done();
        break;
      case E::value:
        element_done();
        break;
    }
    return true;
  }
};

}  // namespace

Json parse_json(const std::string& text, const std::string& source) {
  PathTracker tracker;
  tracker.source = &source;
  try {
    return Json::parse(text, [&tracker](int, Json::parse_event_t ev, Json& parsed) {
      return tracker.on_event(ev, parsed);
    });
  } catch (const Json::parse_error& e) {
    throw Error(source + ":" + line_col(text, e.byte) + ": JSON syntax error: " +
                parse_reason(e.what()));
  } catch (const Json::exception& e) {  // number overflow: "... parsing '1e400'"
    std::string reason = parse_reason(e.what()), where;
    size_t q1 = reason.find('\''), q2 = reason.rfind('\'');
    if (q1 != std::string::npos && q2 > q1 + 1) {
      size_t at = text.find(reason.substr(q1 + 1, q2 - q1 - 1));
      if (at != std::string::npos) where = ":" + line_col(text, at + 1);
    }
    throw Error(source + where + ": invalid JSON: " + reason);
  }
}

// ------------------------------------------------------------------------ descriptions
std::string describe(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean:
      return std::string("boolean ") + (j.get<bool>() ? "true" : "false");
    case Json::value_t::string: {
      std::string s = j.dump(-1, ' ', false, Json::error_handler_t::replace);
      if (s.size() > 42) s = s.substr(0, 38) + "...\"";
      return "string " + s;
    }
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float: return "number " + j.dump();
    case Json::value_t::array:
      return "an array of " + std::to_string(j.size()) + (j.size() == 1 ? " value" : " values");
    case Json::value_t::object: return "an object";
    default: return "a binary value";
  }
}

// Optimal string alignment distance: insertions, deletions, substitutions and transpositions of
// neighbours ("adma" -> "adam") each cost 1.
size_t edit_distance(const std::string& a, const std::string& b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i)
    for (size_t j = 1; j <= m; ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1,
                          d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[n][m];
}

std::string closest_match(const std::string& word, const std::vector<std::string>& candidates) {
  auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  std::string w = lower(word), best;
  size_t best_d = SIZE_MAX;
  for (const std::string& c : candidates) {
    size_t d = edit_distance(w, lower(c));
    if (d < best_d) best_d = d, best = c;
  }
  size_t limit = std::min<size_t>(3, std::max<size_t>(1, word.size() / 3));
  return best_d <= limit ? best : "";
}

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

std::string fmt_number(double v) {
  if (!std::isfinite(v)) return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
  return Json(v).dump();
}

// ------------------------------------------------------------------------------- readers
void read_value(const Where& w, const Json& j, int& out) {
  if (j.is_number_unsigned()) {
    uint64_t v = j.get<uint64_t>();
    if (v > static_cast<uint64_t>(INT_MAX)) w.fail(j.dump() + " is too large for an integer");
    out = static_cast<int>(v);
  } else if (j.is_number_integer()) {
    int64_t v = j.get<int64_t>();
    if (v < INT_MIN || v > INT_MAX) w.fail(j.dump() + " is out of range for an integer");
    out = static_cast<int>(v);
  } else {
    w.fail("expected an integer, got " + describe(j));
  }
}

void read_value(const Where& w, const Json& j, uint64_t& out) {
  if (j.is_number_unsigned()) out = j.get<uint64_t>();
  else if (j.is_number_integer()) w.fail("expected a non-negative integer, got " + describe(j));
  else w.fail("expected a non-negative integer, got " + describe(j));
}

void read_value(const Where& w, const Json& j, double& out) {
  if (!j.is_number()) w.fail("expected a number, got " + describe(j));
  out = j.get<double>();
}

void read_value(const Where& w, const Json& j, float& out) {
  double d = 0;
  read_value(w, j, d);
  if (std::fabs(d) > FLT_MAX) w.fail(j.dump() + " is out of range for a 32-bit float");
  out = static_cast<float>(d);
}

void read_value(const Where& w, const Json& j, bool& out) {
  if (!j.is_boolean()) w.fail("expected a boolean (true or false), got " + describe(j));
  out = j.get<bool>();
}

void read_value(const Where& w, const Json& j, std::string& out) {
  if (!j.is_string()) w.fail("expected a string, got " + describe(j));
  out = j.get<std::string>();
}

void read_value(const Where& w, const Json& j, std::array<int, 3>& out) {
  if (!j.is_array() || j.size() != 3)
    w.fail("expected an array of 3 integers [D, H, W] (D = 1 for 2D models), got " + describe(j));
  for (size_t i = 0; i < 3; ++i) read_value(w.index(i), j[i], out[i]);
}

void read_value(const Where& w, const Json& j, std::map<std::string, std::string>& out) {
  if (!j.is_object()) w.fail("expected an object of strings, got " + describe(j));
  std::map<std::string, std::string> m;
  for (auto it = j.begin(); it != j.end(); ++it)
    read_value(w.key(it.key()), it.value(), m[it.key()]);
  out = std::move(m);
}

const char* type_name(const int&) { return "an integer"; }
const char* type_name(const uint64_t&) { return "a non-negative integer"; }
const char* type_name(const double&) { return "a number"; }
const char* type_name(const float&) { return "a number"; }
const char* type_name(const bool&) { return "a boolean"; }
const char* type_name(const std::string&) { return "a string"; }
const char* type_name(const std::array<int, 3>&) { return "an array of 3 integers"; }
const char* type_name(const std::map<std::string, std::string>&) { return "an object of strings"; }
const char* type_name(const std::vector<int>&) { return "an array of integers"; }
const char* type_name(const std::vector<double>&) { return "an array of numbers"; }
const char* type_name(const std::vector<std::string>&) { return "an array of strings"; }
const char* type_name(const std::vector<std::array<int, 3>>&) {
  return "an array of [D, H, W] integer triples";
}

std::string count_of(size_t n, const char* singular, const char* plural) {
  return std::to_string(n) + " " + (n == 1 ? singular : plural);
}

// ------------------------------------------------------------------------------- writers
OJson write_value(int v) { return OJson(v); }
OJson write_value(uint64_t v) { return OJson(v); }
OJson write_value(double v) { return OJson(v); }
OJson write_value(bool v) { return OJson(v); }
OJson write_value(const std::string& v) { return OJson(v); }

OJson write_value(float v) {
  if (!std::isfinite(v)) return OJson(static_cast<double>(v));  // written as null
  char buf[64];
  for (int prec = 6; prec <= 9; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, static_cast<double>(v));
    double d = std::strtod(buf, nullptr);
    if (static_cast<float>(d) == v) return OJson(d);
  }
  return OJson(static_cast<double>(v));
}

OJson write_value(const std::array<int, 3>& v) { return OJson::array({v[0], v[1], v[2]}); }

OJson write_value(const std::map<std::string, std::string>& v) {
  OJson o = OJson::object();
  for (const auto& [k, s] : v) o[k] = s;
  return o;
}

// ---------------------------------------------------------------------------- printing
namespace {

std::string dump_scalar(const OJson& j, InvalidUtf8 invalid) {
  if (invalid == InvalidUtf8::Replace) return j.dump(-1, ' ', false, OJson::error_handler_t::replace);
  try {
    return j.dump();
  } catch (const OJson::exception& e) {  // invalid UTF-8 in a string
    throw Error(std::string("cannot write JSON: ") + parse_reason(e.what()));
  }
}

bool is_flat(const OJson& j) {  // scalar, or array of scalars
  if (j.is_object()) return false;
  if (!j.is_array()) return true;
  return std::none_of(j.begin(), j.end(), [](const OJson& e) { return e.is_structured(); });
}

void print(const OJson& j, int indent, InvalidUtf8 invalid, std::string& out) {
  std::string pad(static_cast<size_t>(indent) + 2, ' ');
  if (j.is_object()) {
    if (j.empty()) { out += "{}"; return; }
    out += "{\n";
    size_t i = 0;
    for (auto it = j.begin(); it != j.end(); ++it, ++i) {
      out += pad + dump_scalar(OJson(it.key()), invalid) + ": ";
      print(it.value(), indent + 2, invalid, out);
      out += i + 1 < j.size() ? ",\n" : "\n";
    }
    out += std::string(static_cast<size_t>(indent), ' ') + "}";
  } else if (j.is_array()) {
    if (j.empty()) { out += "[]"; return; }
    bool inline_ok = std::all_of(j.begin(), j.end(), is_flat);
    if (inline_ok) {
      std::string line = "[";
      for (size_t i = 0; i < j.size(); ++i) {
        if (i) line += ", ";
        print(j[i], indent + 2, invalid, line);
      }
      line += "]";
      if (line.size() + static_cast<size_t>(indent) <= 96) { out += line; return; }
    }
    out += "[\n";
    for (size_t i = 0; i < j.size(); ++i) {
      out += pad;
      print(j[i], indent + 2, invalid, out);
      out += i + 1 < j.size() ? ",\n" : "\n";
    }
    out += std::string(static_cast<size_t>(indent), ' ') + "]";
  } else {
    out += dump_scalar(j, invalid);
  }
}

}  // namespace

std::string dump_pretty(const OJson& j, InvalidUtf8 invalid) {
  std::string out;
  print(j, 0, invalid, out);
  out += "\n";
  return out;
}

}  // namespace useg::cfg
