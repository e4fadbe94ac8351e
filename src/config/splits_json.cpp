// splits.json, nnU-Net's cross-validation file: [{"train": [...], "val": [...]}, ...], one
// object per fold.
#include <string>

#include "config/json_util.h"
#include "useg/config.h"

namespace useg {

std::vector<DataSplit> parse_splits_json(const std::string& text, const std::string& source) {
  cfg::Json j = cfg::parse_json(text, source);
  cfg::Where root(source);
  if (!j.is_array() || j.empty())
    root.fail("expected a non-empty array of folds [{\"train\": [...], \"val\": [...]}, ...], got " +
              cfg::describe(j));
  std::vector<DataSplit> out;
  for (size_t f = 0; f < j.size(); ++f) {
    cfg::Where w = root.index(f);
    const cfg::Json& fold = j[f];
    if (!fold.is_object()) w.fail("expected an object {\"train\": [...], \"val\": [...]}, got " +
                                  cfg::describe(fold));
    DataSplit s;
    for (auto it = fold.begin(); it != fold.end(); ++it)
      if (it.key() != "train" && it.key() != "val")
        w.fail("unknown key '" + it.key() + "' (valid keys: train, val)");
    for (const char* key : {"train", "val"}) {
      if (!fold.contains(key)) w.fail(std::string("missing key '") + key + "'");
      std::vector<std::string>& names = std::string(key) == "train" ? s.train : s.val;
      cfg::read_value(w.key(key), fold[key], names);
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::string to_splits_json(const std::vector<DataSplit>& splits) {
  cfg::OJson j = cfg::OJson::array();
  for (const DataSplit& s : splits) {
    cfg::OJson f = cfg::OJson::object();
    f["train"] = s.train;
    f["val"] = s.val;
    j.push_back(std::move(f));
  }
  return j.dump(4) + "\n";
}

}  // namespace useg
