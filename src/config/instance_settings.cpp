// The `instances` object of run configs (train.instances) and of model.json: the three-class
// instance target and the postprocessing that splits objects (useg/config.h InstanceSettings).
#include <string>

#include "config/sections.h"

namespace useg::cfg {

namespace {

std::vector<Field<InstanceSettings>> instance_fields(bool with_object) {
  using S = InstanceSettings;
  std::vector<Field<S>> f;
  if (with_object) f.push_back(field("object", &S::object));
  f.push_back(field("boundary_width", &S::boundary_width));
  f.push_back(field("seed_min_size", &S::seed_min_size));
  f.push_back(field("seed_split", &S::seed_split));
  f.push_back(field("min_size", &S::min_size));
  f.push_back(field("fill_holes", &S::fill_holes));
  if (with_object) f.push_back(field("diameter", &S::diameter));
  return f;
}

}  // namespace

const FieldTable<InstanceSettings>& instance_table(bool with_object) {
  static const FieldTable<InstanceSettings> model_json(instance_fields(true));
  static const FieldTable<InstanceSettings> train(instance_fields(false));
  return with_object ? model_json : train;
}

void validate_instances(const Where& w, const InstanceSettings& s, bool with_object) {
  if (with_object && s.object.empty()) w.key("object").fail("must not be empty");
  check_int_range(w.key("boundary_width"), s.boundary_width, 1, 64);
  check_non_negative(w.key("seed_min_size"), s.seed_min_size);
  check_non_negative(w.key("seed_split"), s.seed_split);
  check_non_negative(w.key("min_size"), s.min_size);
  if (with_object) check_non_negative(w.key("diameter"), s.diameter);
}

}  // namespace useg::cfg
