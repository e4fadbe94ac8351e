// The JSON of an eval report as a value (format_json() dumps it), for files
// that hold an eval report and more, such as a training run's
// validation/summary.json (src/train/final_validation.h).
#pragma once

#include "config/json_writer.h"
#include "useg/class_eval.h"
#include "useg/class_eval.h"
#include "useg/eval.h"

namespace useg {

JsonValue eval_report_json(const EvalReport& r);
JsonValue classification_report_json(const ClassificationReport& r);

}  // namespace useg
