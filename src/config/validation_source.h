// What made a training run's validation predictions: the "model" object of
// RUN/validation/summary.json (src/train/final_validation.h). find-postprocess
// reuses the predictions only while they are what the run's best/ would predict
// now: the same weights (the epoch they are from) and the same test-time
// mirroring.
#pragma once

#include <string>

namespace useg {

struct ValidationSource {
  std::string model;           // the model folder, as written ("best")
  std::string trained_epochs;  // best/model.json's provenance.trained_epochs
  bool tta = false;            // test-time mirroring
};

// Reads the "model" object of a summary.json's text. Throws "<source>:
// model...: what was wrong" when it is absent or not as written by the trainer.
ValidationSource parse_validation_source(const std::string& json_text, const std::string& source);

}  // namespace useg
