// Learning-rate schedules against values computed by hand (Python: 0.01 * 0.5 ** 0.9, ...).
#include <gtest/gtest.h>

#include "useg/error.h"
#include "useg/train.h"

namespace useg {
namespace {

TrainConfig sched(const std::string& kind, int warmup = 0) {
  TrainConfig t;
  t.epochs = 10;
  t.iterations_per_epoch = 5;  // 50 steps
  t.lr = 0.01;
  t.schedule = kind;
  t.poly_exponent = 0.9;
  t.warmup_epochs = warmup;
  return t;
}

TEST(TrainSchedule, Constant) {
  TrainConfig t = sched("constant");
  for (int64_t s : {0, 1, 25, 49}) EXPECT_EQ(scheduled_lr(t, s), 0.01);
}

TEST(TrainSchedule, Poly) {
  TrainConfig t = sched("poly");
  EXPECT_DOUBLE_EQ(scheduled_lr(t, 0), 0.01);
  EXPECT_DOUBLE_EQ(scheduled_lr(t, 25), 0.005358867312681466);   // (1 - 25/50)^0.9
  EXPECT_DOUBLE_EQ(scheduled_lr(t, 49), 0.00029575152732566276); // (1 - 49/50)^0.9
}

TEST(TrainSchedule, Cosine) {
  TrainConfig t = sched("cosine");
  EXPECT_DOUBLE_EQ(scheduled_lr(t, 0), 0.01);
  EXPECT_DOUBLE_EQ(scheduled_lr(t, 10), 0.009045084971874737);   // (1 + cos(0.2 pi)) / 2
  EXPECT_NEAR(scheduled_lr(t, 25), 0.005, 1e-15);
}

TEST(TrainSchedule, LinearWarmupThenDecay) {
  TrainConfig t = sched("poly", 2);  // 10 warm-up steps, then 40 decay steps
  EXPECT_DOUBLE_EQ(scheduled_lr(t, 0), 0.001);
  EXPECT_DOUBLE_EQ(scheduled_lr(t, 4), 0.005);
  EXPECT_DOUBLE_EQ(scheduled_lr(t, 9), 0.01);
  EXPECT_DOUBLE_EQ(scheduled_lr(t, 10), 0.01);
  EXPECT_DOUBLE_EQ(scheduled_lr(t, 30), 0.005358867312681466);   // u = 20/40
  EXPECT_DOUBLE_EQ(scheduled_lr(t, 39), 0.0031289557722833567);  // u = 29/40
  TrainConfig c = sched("constant", 1);
  EXPECT_DOUBLE_EQ(scheduled_lr(c, 2), 0.006);
  EXPECT_DOUBLE_EQ(scheduled_lr(c, 5), 0.01);
}

TEST(TrainSchedule, UnknownScheduleIsAnError) {
  TrainConfig t = sched("step");
  EXPECT_THROW(scheduled_lr(t, 3), Error);
}

}  // namespace
}  // namespace useg
