// plan.json of `useg plan` (include/useg/plan.h).
#include "config/json_util.h"
#include "useg/plan.h"

namespace useg {

std::string to_json_string(const DatasetPlan& plan) {
  using cfg::OJson;
  const DatasetFingerprint& fp = plan.fingerprint;
  OJson f = OJson::object();
  f["dataset"] = fp.dataset;
  f["dims"] = fp.dims;
  f["cases"] = fp.cases;
  OJson sp = OJson::array(), sh = OJson::array();
  for (size_t i = 0; i < fp.spacings.size(); ++i) {
    sp.push_back(std::vector<double>(fp.spacings[i].begin(), fp.spacings[i].end()));
    sh.push_back(std::vector<int64_t>(fp.shapes[i].begin(), fp.shapes[i].end()));
  }
  f["spacings"] = sp;
  f["shapes"] = sh;
  OJson ch = OJson::object();
  for (const ChannelFingerprint& c : fp.channels) {
    OJson o = OJson::object();
    o["samples"] = c.samples;
    o["mean"] = c.mean;
    o["std"] = c.std;
    o["min"] = c.min;
    o["max"] = c.max;
    o["median"] = c.median;
    o["percentile_00_5"] = c.percentile_00_5;
    o["percentile_99_5"] = c.percentile_99_5;
    ch[c.name] = o;
  }
  f["foreground_intensity"] = ch;
  OJson cls = OJson::object();
  for (size_t k = 0; k < fp.class_names.size(); ++k) cls[fp.class_names[k]] = fp.class_fractions[k];
  f["class_voxel_fractions"] = cls;

  OJson j = OJson::object();
  j["fingerprint"] = f;
  j["target_spacing"] = std::vector<double>(plan.target_spacing.begin(), plan.target_spacing.end());
  j["memory_budget"] = plan.memory_budget;
  OJson confs = OJson::object();
  for (const PlannedConfiguration& c : plan.configurations) {
    OJson o = OJson::object();
    o["median_shape"] = c.median_shape;
    o["step_bytes"] = c.step_bytes;
    o["config"] = OJson::parse(to_json_string(c.run));
    confs[c.name] = o;
  }
  j["configurations"] = confs;
  return j.dump(2) + "\n";
}

}  // namespace useg
