// The `inference` section of model.json and of run configs (test-time mirroring, postprocessing
// steps): defaults, round trips and errors by their message. (The rest: test_config.cpp.)
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/expect_error.h"
#include "useg/config.h"

namespace useg {
namespace {

using test::error_of;

const char* kSrc = "configs/x.json";

std::string run_error(const std::string& text) {
  return error_of([&] { parse_run_config(text, kSrc); });
}
std::string info_error(const std::string& text) {
  return error_of([&] { parse_model_info(text, kSrc); });
}

// `inference` (model.json and run configs): how segment runs the model unless told otherwise
// (test-time mirroring, postprocessing steps).
TEST(ConfigInference, DefaultsRoundTripAndErrors) {
  // A model.json written before the section existed: one pass per window.
  EXPECT_FALSE(parse_model_info(R"({"model": {"num_classes": 2}})", kSrc).inference.tta);
  ModelInfo info;
  info.inference.tta = true;
  const std::string text = to_json_string(info);
  EXPECT_NE(text.find("\"inference\": {\n    \"tta\": true,\n    \"postprocess\": []\n  }"),
            std::string::npos) << text;
  EXPECT_TRUE(parse_model_info(text, kSrc).inference.tta);
  RunConfig rc = parse_run_config(R"({"model": {}, "train": {"patch_size": [64, 64]},
                                      "inference": {"tta": true}})", kSrc);
  EXPECT_TRUE(rc.inference.tta);
  EXPECT_TRUE(parse_run_config(to_json_string(rc), kSrc).inference.tta);
  EXPECT_FALSE(parse_run_config(R"({"train": {"patch_size": [64, 64]}})", kSrc).inference.tta);

  std::string e = info_error(R"({"inference": {"mirror": true}})");
  EXPECT_NE(e.find("configs/x.json: unknown key 'inference.mirror'"), std::string::npos) << e;
  EXPECT_NE(e.find("valid keys: tta, postprocess"), std::string::npos) << e;

  // postprocess: steps in --postprocess syntax, checked by the same rules, named by index.
  const ModelInfo steps = parse_model_info(
      R"({"inference": {"postprocess": ["largest", "min-size=50mm3,fill-holes"]}})", kSrc);
  EXPECT_EQ(steps.inference.postprocess,
            (std::vector<std::string>{"largest", "min-size=50mm3,fill-holes"}));
  EXPECT_EQ(parse_model_info(to_json_string(steps), kSrc).inference.postprocess,
            steps.inference.postprocess);
  EXPECT_EQ(info_error(R"({"inference": {"postprocess": ["largest", "min-size=abc"]}})"),
            "configs/x.json: inference.postprocess[1]: bad value 'min-size=abc': min-size needs a "
            "positive number and a unit vox, mm3 or mm2, e.g. min-size=100vox or min-size=50mm3");
  e = info_error(R"({"inference": {"postprocess": ["biggest"]}})");
  EXPECT_NE(e.find("configs/x.json: inference.postprocess[0]: unknown step 'biggest' (valid: "
                   "largest | largest=K1+K2"),
            std::string::npos) << e;
  EXPECT_EQ(info_error(R"({"model": {"num_classes": 3}, "inference": {"postprocess": ["largest=1+3"]}})"),
            "configs/x.json: inference.postprocess[0]: 'largest=1+3' names class 3, but "
            "model.num_classes is 3");
  EXPECT_EQ(parse_model_info(R"({"model": {"num_classes": 3}, "inference": {"postprocess": ["largest=2"]}})",
                             kSrc).inference.postprocess,
            std::vector<std::string>{"largest=2"});
  EXPECT_EQ(info_error(R"({"inference": {"postprocess": "largest"}})"),
            "configs/x.json: inference.postprocess: expected an array, got string \"largest\"");
  EXPECT_EQ(info_error(R"({"inference": {"tta": "yes"}})"),
            "configs/x.json: inference.tta: expected a boolean (true or false), got string "
            "\"yes\"");
  EXPECT_EQ(run_error(R"({"model": {}, "train": {"patch_size": [64, 64]}, "inference": [true]})"),
            "configs/x.json: inference: expected an object, got an array of 1 value");
  // A classifier has no sliding windows to mirror.
  const std::string clf = R"("model": {"architecture": "encoder_classifier", "input_size": [64, 64]})";
  EXPECT_EQ(info_error("{" + clf + R"(, "inference": {"tta": true}})"),
            "configs/x.json: inference.tta: must be false for a classifier (test-time mirroring "
            "averages a segmentation's sliding windows; useg classify has none)");
  EXPECT_EQ(run_error("{" + clf + R"(, "train": {"patch_size": [64, 64]}, "inference": {"tta": true}})"),
            "configs/x.json: inference.tta: must be false for a classifier (test-time mirroring "
            "averages a segmentation's sliding windows; useg classify has none)");
  EXPECT_EQ(info_error("{" + clf + R"(, "inference": {"postprocess": ["largest"]}})"),
            "configs/x.json: inference.postprocess: must be empty for a classifier (the steps "
            "act on label images)");
}

}  // namespace
}  // namespace useg
