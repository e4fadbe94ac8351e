// The model keys of the imported nnU-Net architectures (useg import-nnunet, docs/interop.md):
// nnunet_plain's and nnunet_resenc's per-stage lists are checked and read only by the
// architectures that have them, errors name the key, and the values round-trip through JSON.
// (The rest of the config errors: test_config.cpp.)
#include <gtest/gtest.h>

#include <string>

#include "useg/config.h"
#include "useg/error.h"

namespace useg {
namespace {

const char* kSrc = "configs/x.json";

std::string run_error(const std::string& text) {
  try {
    parse_run_config(text, kSrc);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a useg::Error";
  return "";
}
// A run config with `model_body` inside the model section (patch given).
std::string run_json(const std::string& model_body) {
  return R"({"model": {)" + model_body + R"(}, "train": {"patch_size": [64, 64]}})";
}

// architecture "nnunet_plain" (useg import-nnunet): its per-stage lists are checked and read
// only there; what PlainConvUNet has no place for is refused.
TEST(ConfigErrors, NnunetPlainStageLists) {
  const std::string plain = R"("architecture": "nnunet_plain", "depth": 2, )";
  EXPECT_EQ(run_error(run_json(R"("depth": 2, "features_per_stage": [4, 8, 16])")),
            "configs/x.json: model.features_per_stage: is only read with architecture "
            "'nnunet_plain' or 'nnunet_resenc' (this model is 'unet')");
  EXPECT_EQ(run_error(run_json(plain + R"("features_per_stage": [4, 8])")),
            "configs/x.json: model.features_per_stage: has 2 entries but needs 3 (depth is 2)");
  EXPECT_EQ(run_error(run_json(plain + R"("n_conv_per_stage_decoder": [1, 0])")),
            "configs/x.json: model.n_conv_per_stage_decoder[1]: must be at least 1, got 0");
  EXPECT_EQ(run_error(run_json(plain + R"("residual": true)")),
            "configs/x.json: model.residual: is not part of architecture 'nnunet_plain' "
            "(nnU-Net's residual encoder is architecture 'nnunet_resenc')");
  RunConfig rc = parse_run_config(
      run_json(plain + R"("features_per_stage": [4, 8, 16], "n_conv_per_stage": [1, 2, 3])"),
      kSrc);
  EXPECT_FALSE(rc.model.classifier());
  EXPECT_EQ(rc.model.filters(2), 16);
  EXPECT_EQ(rc.model.encoder_convs(2), 3);
  EXPECT_EQ(rc.model.decoder_convs(1), 2);  // convs_per_stage where the list is empty
  EXPECT_EQ(rc.train.loss, LossKind::DiceCE);
  RunConfig back = parse_run_config(to_json_string(rc), kSrc);
  EXPECT_EQ(back.model.features_per_stage, rc.model.features_per_stage);
  EXPECT_EQ(back.model.n_conv_per_stage, rc.model.n_conv_per_stage);
}

// architecture "nnunet_resenc" (useg import-nnunet of a ResidualEncoderUNet): residual blocks
// per stage and the stem's channels; the plain network's conv counts are refused by key.
TEST(ConfigErrors, NnunetResencKeys) {
  const std::string resenc = R"("architecture": "nnunet_resenc", "depth": 2, )";
  EXPECT_EQ(run_error(run_json(R"("depth": 2, "n_blocks_per_stage": [1, 2, 2])")),
            "configs/x.json: model.n_blocks_per_stage: is only read with architecture "
            "'nnunet_resenc' (this model is 'unet')");
  EXPECT_EQ(run_error(run_json(R"("architecture": "nnunet_plain", "depth": 2, )"
                               R"("stem_channels": 8)")),
            "configs/x.json: model.stem_channels: is only read with architecture "
            "'nnunet_resenc' (this model is 'nnunet_plain')");
  EXPECT_EQ(run_error(run_json(resenc + R"("n_conv_per_stage": [2, 2, 2])")),
            "configs/x.json: model.n_conv_per_stage: is only read with architecture "
            "'nnunet_plain' (this model is 'nnunet_resenc'); its encoder stages count residual "
            "blocks: n_blocks_per_stage");
  EXPECT_EQ(run_error(run_json(resenc + R"("n_blocks_per_stage": [1, 2])")),
            "configs/x.json: model.n_blocks_per_stage: has 2 entries but needs 3 (depth is 2)");
  EXPECT_EQ(run_error(run_json(resenc + R"("n_blocks_per_stage": [1, 0, 2])")),
            "configs/x.json: model.n_blocks_per_stage[1]: must be at least 1, got 0");
  EXPECT_EQ(run_error(run_json(resenc + R"("stem_channels": -1)")),
            "configs/x.json: model.stem_channels: must be at least 0, got -1");
  EXPECT_EQ(run_error(run_json(resenc + R"("residual": true)")),
            "configs/x.json: model.residual: is not part of architecture 'nnunet_resenc' (its "
            "residual blocks are always there)");
  RunConfig rc = parse_run_config(
      run_json(resenc + R"("features_per_stage": [4, 8, 16], "n_blocks_per_stage": [1, 3, 4], )"
                        R"("stem_channels": 6)"),
      kSrc);
  EXPECT_EQ(rc.model.encoder_blocks(2), 4);
  EXPECT_EQ(rc.model.stem_channels, 6);
  EXPECT_EQ(rc.train.loss, LossKind::DiceCE);
  RunConfig back = parse_run_config(to_json_string(rc), kSrc);
  EXPECT_EQ(back.model.n_blocks_per_stage, rc.model.n_blocks_per_stage);
  EXPECT_EQ(back.model.stem_channels, 6);
}

}  // namespace
}  // namespace useg
