// Field tables: each config struct is described once, as a list of (key, member) pairs, and
// that one list drives reading (with unknown-key / missing-key / type errors), writing, and the
// list of valid keys shown in error messages. Reading and writing therefore cannot drift apart.
#pragma once

#include <algorithm>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "config/json_util.h"

namespace useg::cfg {

template <class S>
struct Field {
  std::string name;
  bool required = false;
  std::string expected;  // "an integer", for "missing required key" messages
  std::function<void(const Where&, const Json&, S&)> read;
  std::function<OJson(const S&)> write;
};

template <class S>
class FieldTable {
 public:
  explicit FieldTable(std::vector<Field<S>> fields) : m_fields(std::move(fields)) {}

  std::vector<std::string> names() const {
    std::vector<std::string> n;
    for (const Field<S>& f : m_fields) n.push_back(f.name);
    return n;
  }

  // Reads the keys present in `j` into `s`; absent keys keep the value `s` already has.
  void read(const Where& w, const Json& j, S& s) const {
    if (!j.is_object())
      w.fail(std::string(w.path().empty() ? "the top level must be a JSON object"
                                          : "expected an object") +
             ", got " + describe(j));
    std::vector<std::string> valid = names();
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (std::find(valid.begin(), valid.end(), it.key()) != valid.end()) continue;
      std::string hint = closest_match(it.key(), valid);
      Where(w.source()).fail("unknown key '" + w.key(it.key()).path() + "' (" +
                             (hint.empty() ? "" : "did you mean '" + hint + "'? ") +
                             "valid keys: " + join(valid) + ")");
    }
    for (const Field<S>& f : m_fields) {
      auto it = j.find(f.name);
      if (it == j.end()) {
        if (f.required)
          Where(w.source()).fail("missing required key '" + w.key(f.name).path() +
                                 "' (expected " + f.expected + ")");
        continue;
      }
      f.read(w.key(f.name), *it, s);
    }
  }

  OJson write(const S& s) const {
    OJson o = OJson::object();
    for (const Field<S>& f : m_fields) o[f.name] = f.write(s);
    return o;
  }

 private:
  std::vector<Field<S>> m_fields;
};

// A plain member: int, double, float, bool, string, uint64_t, vectors and arrays of those.
template <class S, class T>
Field<S> field(const char* name, T S::*m, bool required = false) {
  return {name, required, type_name(T{}),
          [m](const Where& w, const Json& j, S& s) { read_value(w, j, s.*m); },
          [m](const S& s) { return write_value(s.*m); }};
}

// A member holding one of a fixed set of names (an enum, or a string with fixed choices).
template <class E>
using Choices = std::vector<std::pair<std::string, E>>;

template <class E>
std::vector<std::string> choice_names(const Choices<E>& c) {
  std::vector<std::string> n;
  for (const auto& p : c) n.push_back(p.first);
  return n;
}

template <class E>
void read_choice(const Where& w, const Json& j, const Choices<E>& choices, E& out) {
  std::vector<std::string> names = choice_names(choices);
  if (!j.is_string())
    w.fail("expected a string (one of " + join(names) + "), got " + describe(j));
  const std::string& v = j.get_ref<const std::string&>();
  for (const auto& p : choices)
    if (p.first == v) { out = p.second; return; }
  std::string hint = closest_match(v, names);
  w.fail("'" + v + "' is not one of " + join(names) +
         (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
}

// `to_name` writes the value (so a value outside `choices` is still written by name, and then
// rejected with a clear message when read back).
template <class S, class E, class ToName>
Field<S> choice_field(const char* name, E S::*m, Choices<E> choices, ToName to_name) {
  return {name, false, "a string",
          [m, choices](const Where& w, const Json& j, S& s) { read_choice(w, j, choices, s.*m); },
          [m, to_name](const S& s) { return OJson(std::string(to_name(s.*m))); }};
}

template <class S>
Field<S> string_choice_field(const char* name, std::string S::*m, std::vector<std::string> names) {
  Choices<std::string> c;
  for (const std::string& n : names) c.emplace_back(n, n);
  return choice_field(name, m, c, [](const std::string& v) { return v; });
}

// A nested object described by its own table.
template <class S, class T>
Field<S> object_field(const char* name, T S::*m, const FieldTable<T>& table) {
  return {name, false, "an object",
          [m, &table](const Where& w, const Json& j, S& s) { table.read(w, j, s.*m); },
          [m, &table](const S& s) { return table.write(s.*m); }};
}

// An array of objects described by one table (each element starts from T's defaults).
template <class S, class T>
Field<S> object_list_field(const char* name, std::vector<T> S::*m, const FieldTable<T>& table) {
  return {name, false, "an array of objects",
          [m, &table](const Where& w, const Json& j, S& s) {
            if (!j.is_array()) w.fail("expected an array of objects, got " + describe(j));
            std::vector<T> v(j.size());
            for (size_t i = 0; i < j.size(); ++i) table.read(w.index(i), j[i], v[i]);
            (s.*m) = std::move(v);
          },
          [m, &table](const S& s) {
            OJson a = OJson::array();
            for (const T& x : s.*m) a.push_back(table.write(x));
            return a;
          }};
}

}  // namespace useg::cfg
