// dataset.json of an nnU-Net v2 raw dataset. Lenient about keys we do not use (nnU-Net datasets
// carry name, description, licence, reference, ...), strict about the ones we do.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string>

#include "config/json_util.h"
#include "useg/config.h"
#include "useg/error.h"

namespace useg {

namespace {

using cfg::Json;
using cfg::Where;

bool is_index(const std::string& s) {
  return !s.empty() && s.size() < 6 &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

std::vector<std::string> read_channels(const Where& w, const Json& j) {
  if (!j.is_object()) w.fail("expected an object {\"0\": \"CT\", ...}, got " + cfg::describe(j));
  if (j.empty()) w.fail("must name at least one channel, e.g. {\"0\": \"CT\"}");
  std::map<int, std::string> by_index;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!is_index(it.key()))
      w.fail("key '" + it.key() + "' is not a channel index (expected \"0\", \"1\", ...)");
    if (!it->is_string() || it->get<std::string>().empty())
      w.key(it.key()).fail("expected a non-empty channel name, got " + cfg::describe(*it));
    by_index[std::stoi(it.key())] = it->get<std::string>();
  }
  std::vector<std::string> out;
  for (const auto& [i, name] : by_index) {
    if (i != static_cast<int>(out.size()))
      w.fail("channel indices must be 0.." + std::to_string(by_index.size() - 1) +
             " without gaps (found \"" + std::to_string(i) + "\")");
    out.push_back(name);
  }
  return out;
}

std::vector<std::pair<std::string, int>> read_labels(const Where& w, const Json& j) {
  if (!j.is_object())
    w.fail("expected an object {\"background\": 0, \"name\": 1, ...}, got " + cfg::describe(j));
  if (j.size() < 2)
    w.fail("needs background (0) and at least one foreground label, got " +
           cfg::count_of(j.size(), "label", "labels"));
  std::vector<std::pair<std::string, int>> out;
  std::set<int> values;
  bool v1_style = true;  // {"0": "background", "1": "liver"}: nnU-Net v1 / Medical Decathlon
  for (auto it = j.begin(); it != j.end(); ++it)
    v1_style = v1_style && is_index(it.key()) && it->is_string();
  if (v1_style)
    w.fail("maps values to names ({\"0\": \"background\", ...}), the nnU-Net v1 / Medical "
           "Segmentation Decathlon form; nnU-Net v2 maps names to values "
           "({\"background\": 0, ...}): convert the dataset (nnUNetv2_convert_MSD_dataset) or "
           "rewrite the labels");
  for (auto it = j.begin(); it != j.end(); ++it) {
    Where wk = w.key(it.key());
    if (it.key().empty()) w.fail("a label name is empty");
    if (it->is_array())
      wk.fail("is a list of values (a region-based label); useg trains one class per value, "
              "region-based training is not supported");
    if (!it->is_number_integer() && !it->is_number_unsigned())
      wk.fail("expected an integer label value, got " + cfg::describe(*it));
    int64_t v = it->get<int64_t>();
    if (v < 0 || v > 65535) wk.fail("label value " + std::to_string(v) + " is outside 0..65535");
    if (!values.insert(static_cast<int>(v)).second)
      wk.fail("label value " + std::to_string(v) + " is used by two labels");
    out.emplace_back(it.key(), static_cast<int>(v));
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.second < b.second; });
  if (out.front().second != 0)
    w.fail("no label has value 0 (background); nnU-Net requires \"background\": 0");
  if (out.size() > 255) w.fail("more than 255 labels are not supported");
  return out;
}

}  // namespace

DatasetJson parse_dataset_json(const std::string& text, const std::string& source) {
  Json j = cfg::parse_json(text, source);
  Where root(source);
  if (!j.is_object()) root.fail("the top level must be a JSON object, got " + cfg::describe(j));
  auto need = [&](const char* key, const char* example) -> const Json& {
    auto it = j.find(key);
    if (it == j.end())
      root.fail(std::string("missing required key '") + key + "' (e.g. " + example + ")");
    return *it;
  };
  DatasetJson d;
  if (j.contains("regions_class_order"))
    root.key("regions_class_order")
        .fail("region-based labels are not supported (train one class per label value)");
  if (!j.contains("channel_names") && j.contains("modality"))
    d.channel_names = read_channels(root.key("modality"), j["modality"]);  // nnU-Net v1 name
  else
    d.channel_names =
        read_channels(root.key("channel_names"), need("channel_names", "\"channel_names\": "
                                                                       "{\"0\": \"CT\"}"));
  d.labels = read_labels(root.key("labels"),
                         need("labels", "\"labels\": {\"background\": 0, \"tumour\": 1}"));
  const Json& n = need("numTraining", "\"numTraining\": 20");
  if (!n.is_number_integer() && !n.is_number_unsigned())
    root.key("numTraining").fail("expected an integer, got " + cfg::describe(n));
  int64_t nt = n.get<int64_t>();
  if (nt < 0 || nt > std::numeric_limits<int>::max())
    root.key("numTraining").fail("must be a non-negative integer, got " + std::to_string(nt));
  d.num_training = static_cast<int>(nt);
  const Json& fe = need("file_ending", "\"file_ending\": \".nii.gz\"");
  if (!fe.is_string()) root.key("file_ending").fail("expected a string, got " + cfg::describe(fe));
  d.file_ending = fe.get<std::string>();
  if (auto it = j.find("instances"); it != j.end()) {
    if (!it->is_boolean())
      root.key("instances").fail("expected true or false, got " + cfg::describe(*it));
    d.instances = it->get<bool>();
  }
  if (d.instances && d.labels.size() != 2)
    root.key("labels").fail("an instance dataset (\"instances\": true) names background and "
                            "the objects, e.g. {\"background\": 0, \"nucleus\": 1}; got " +
                            cfg::count_of(d.labels.size(), "label", "labels"));
  if (d.file_ending.size() < 2 || d.file_ending[0] != '.')
    root.key("file_ending").fail("expected an extension starting with '.', e.g. \".nii.gz\", "
                                 "got \"" + d.file_ending + "\"");
  return d;
}

}  // namespace useg
