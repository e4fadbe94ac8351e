// Case grouping (nnU-Net channel naming), progress text and per-class Dice.
#include <gtest/gtest.h>

#include "util/cases.h"
#include "useg/metrics.h"
#include "util/progress.h"

namespace useg {
namespace {

TEST(Cases, StemStripsImageExtensions) {
  EXPECT_EQ(image_stem("/a/b/case_0001.nii.gz"), "case_0001");
  EXPECT_EQ(image_stem("x.NRRD"), "x");
  EXPECT_EQ(image_stem("dir/series/"), "series");
  EXPECT_EQ(image_stem("noext"), "noext");
}

TEST(Cases, GroupsNnunetChannelsAndSingles) {
  std::vector<std::string> problems;
  auto cases = group_cases({"/d/b_0001.nii.gz", "/d/b_0000.nii.gz", "/d/a.nrrd", "/d/c_0000.mha",
                            "/d/e_0000.nii", "/d/e_0002.nii"},
                           &problems);
  ASSERT_EQ(cases.size(), 3u);
  EXPECT_EQ(cases[0].name, "a");
  EXPECT_EQ(cases[1].name, "b");
  EXPECT_EQ(cases[1].files, (std::vector<std::string>{"/d/b_0000.nii.gz", "/d/b_0001.nii.gz"}));
  EXPECT_EQ(cases[2].name, "c");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0], "e: channel files _0000, _0002 do not run _0000, _0001, ... without gaps");
}

TEST(Progress, RateAndEta) {
  EXPECT_EQ(format_duration(65), "1m05s");
  EXPECT_EQ(format_duration(3725), "1h02m");
  EXPECT_EQ(Progress::rate_eta(2, 10, 4.0, "case"), "2 s/case, ETA 16s");
  EXPECT_EQ(Progress::rate_eta(10, 10, 5.0, "case"), "2 case/s");
}

TEST(Dice, PerClassWithEmptyClasses) {
  Tensor p = Tensor::empty(Shape{1, 1, 1, 1, 6}), r = Tensor::empty(Shape{1, 1, 1, 1, 6});
  float pv[6] = {0, 1, 1, 0, 0, 0}, rv[6] = {0, 1, 0, 0, 0, 3};
  std::copy(pv, pv + 6, p.data());
  std::copy(rv, rv + 6, r.data());
  auto d = dice_per_class(p, r, 4);
  EXPECT_DOUBLE_EQ(d[0], 2.0 * 3 / (4 + 4));
  EXPECT_DOUBLE_EQ(d[1], 2.0 * 1 / (2 + 1));
  EXPECT_DOUBLE_EQ(d[2], 1.0);  // absent from both
  EXPECT_DOUBLE_EQ(d[3], 0.0);  // missed
}

}  // namespace
}  // namespace useg
