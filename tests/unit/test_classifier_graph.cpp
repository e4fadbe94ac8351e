// Classifier configs and graphs: the "layers" and "encoder_classifier" architectures parse and
// round-trip, every misuse of the layer list is an error naming the layer and the key, the
// graph has PyTorch's parameter names and shapes, `useg info`'s summary counts them, and the
// network takes exactly its input size. (Numbers against PyTorch: test_golden's classifiers.)
#include <gtest/gtest.h>

#include "common/expect_error.h"
#include "nn/builders.h"
#include "useg/config.h"
#include "useg/model.h"

namespace useg {
namespace {

const char* kCnn = R"({
  "architecture": "layers", "dims": 2, "in_channels": 1, "num_classes": 10,
  "input_size": [28, 28],
  "layers": [
    {"type": "conv", "filters": 32, "kernel": 3, "activation": "relu"},
    {"type": "max_pool", "size": 2},
    {"type": "conv", "filters": 64, "kernel": 3, "activation": "relu"},
    {"type": "max_pool", "size": 2},
    {"type": "flatten"},
    {"type": "dense", "units": 64, "activation": "relu"},
    {"type": "dense"}
  ]})";

ModelConfig cnn() { return parse_model_config(kCnn, "cnn.json"); }

std::string error_of(const std::string& json) {
  try {
    parse_model_config(json, "m.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// kCnn with the layer list replaced.
std::string with_layers(const std::string& layers, const std::string& extra = "") {
  return R"({"architecture": "layers", "dims": 2, "num_classes": 3, "input_size": [8, 8], )" +
         extra + R"("layers": [)" + layers + "]}";
}

TEST(ClassifierConfig, TheReferenceCnnParsesAndRoundTrips) {
  ModelConfig c = cnn();
  EXPECT_TRUE(c.classifier());
  ASSERT_EQ(c.layers.size(), 7u);
  EXPECT_EQ(c.layers[0].activation, Activation::ReLU);
  EXPECT_EQ(c.layers[5].units, 64);
  ModelConfig back = parse_model_config(to_json_string(c), "back.json");
  EXPECT_EQ(to_json_string(back), to_json_string(c));
  EXPECT_EQ(back.layers.size(), 7u);
  EXPECT_EQ(back.input_size, (std::vector<int>{28, 28}));
}

TEST(ClassifierConfig, LayerMisuseNamesTheLayerAndKey) {
  EXPECT_NE(error_of(with_layers(R"({"type": "dense"}, {"type": "flatten"})"))
                .find("m.json: layers[0].type: a dense layer needs a flatten or global "
                      "pooling layer before it"),
            std::string::npos);
  EXPECT_NE(error_of(with_layers(R"({"type": "flatten"}, {"type": "conv", "filters": 2},)"
                                 R"( {"type": "dense"})"))
                .find("layers[1].type: 'conv' after the spatial part ended"),
            std::string::npos);
  EXPECT_NE(error_of(with_layers(R"({"type": "flatten"}, {"type": "dense"}, {"type": "dense"})"))
                .find("layers[1].units: is required (>= 1) on every dense layer but the "
                      "last"),
            std::string::npos);
  EXPECT_NE(error_of(with_layers(R"({"type": "conv", "filters": 2, "kernel": 4},)"
                                 R"( {"type": "flatten"}, {"type": "dense"})"))
                .find("layers[0].kernel: must be odd"),
            std::string::npos);
  EXPECT_NE(error_of(with_layers(R"({"type": "global_avg_pool"})"))
                .find("layers[0].type: the last layer must be a dense layer"),
            std::string::npos);
  EXPECT_NE(error_of(with_layers(R"({"type": "flatten"}, {"type": "dense", "units": 5})"))
                .find("the last dense layer gives the class scores: 5 units for num_classes 3"),
            std::string::npos);
  EXPECT_NE(error_of(with_layers(R"({"type": "flaten"})"))
                .find("'flaten' is not one of conv, max_pool, global_avg_pool, global_max_pool, "
                      "flatten, dense, dropout (did you mean 'flatten'?)"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"architecture": "layers", "layers": [{"type": "flatten"},)"
                     R"( {"type": "dense"}]})")
                .find("input_size: is required for architecture 'layers'"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"layers": [{"type": "flatten"}]})")
                .find("layers: is only read with architecture 'layers'"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"input_size": [8, 8]})").find("input_size: is for classifiers"),
            std::string::npos);
}

TEST(ClassifierGraph, ReferenceCnnHasPyTorchNamesShapesAndCounts) {
  nn::Graph g = nn::build_graph(cnn());
  std::vector<std::string> names;
  std::vector<std::vector<int64_t>> shapes;
  for (const nn::ParamSpec* p : g.params()) {
    names.push_back(p->name);
    shapes.push_back(p->torch_shape);
  }
  EXPECT_EQ(names, (std::vector<std::string>{
                       "layers.0.conv.weight", "layers.0.conv.bias", "layers.2.conv.weight",
                       "layers.2.conv.bias", "layers.5.dense.weight", "layers.5.dense.bias",
                       "layers.6.dense.weight", "layers.6.dense.bias"}));
  // 28 -> conv 28 -> pool 14 -> conv 14 -> pool 7: flatten gives 64 * 7 * 7 = 3136 inputs.
  EXPECT_EQ(shapes[4], (std::vector<int64_t>{64, 3136}));
  EXPECT_EQ(shapes[6], (std::vector<int64_t>{10, 64}));
  const int64_t params = 32 * 9 + 32 + 64 * 32 * 9 + 64 + 3136 * 64 + 64 + 64 * 10 + 10;
  ModelSummary s = summarize(cnn());
  EXPECT_EQ(s.params, params);
  EXPECT_EQ(s.params, 220234);  // sum(p.numel()) of scripts/torch_classifier.py's module
  // FLOPs per image: 2 * (32*9*28*28 + 64*32*9*14*14 + 3136*64 + 64*10)
  const double flops = 2.0 * (32 * 9 * 784 + 64 * 32 * 9 * 196 + 3136 * 64 + 640);
  EXPECT_NEAR(s.flops_per_voxel * 784, flops, 1e-6 * flops);
  EXPECT_EQ(s.receptive_field[1], 28);  // the flatten sees the whole image
  std::vector<Shape> out = nn::infer_shapes(g, Shape{4, 1, 1, 28, 28});
  EXPECT_EQ(out[g.outputs[0]], (Shape{4, 10, 1, 1, 1}));
}

TEST(ClassifierGraph, EncoderClassifierPoolsTheBottleneck) {
  ModelConfig c;
  c.architecture = "encoder_classifier";
  c.base_filters = 8;
  c.depth = 2;
  c.num_classes = 4;
  nn::Graph g = nn::build_graph(c);
  std::vector<std::string> names;
  for (const nn::ParamSpec* p : g.params()) names.push_back(p->name);
  ASSERT_GE(names.size(), 2u);
  EXPECT_EQ(names.front(), "encoder.0.blocks.0.conv.weight");
  EXPECT_EQ(names[names.size() - 2], "classifier.weight");
  EXPECT_EQ(g.params()[names.size() - 2]->torch_shape, (std::vector<int64_t>{4, 32}));
  // Any multiple of the pools: [N, 4, 1, 1, 1] scores.
  EXPECT_EQ(nn::infer_shapes(g, Shape{2, 1, 1, 12, 16})[g.outputs[0]], (Shape{2, 4, 1, 1, 1}));
}

TEST(ClassifierGraph, TheNetworkTakesExactlyItsInputSize) {
  auto be = make_backend(Device::CPU);
  Network net(cnn(), *be);
  EXPECT_EQ(net.forward(Tensor::zeros(Shape{2, 1, 1, 28, 28}), false)[0].shape(),
            (Shape{2, 10, 1, 1, 1}));
  test::expect_error([&] { net.forward(Tensor::zeros(Shape{1, 1, 1, 32, 32}), false); },
                     "model input [1, 1, 1, 32, 32]: this network takes images of exactly 1 x "
                     "28 x 28 voxels (D x H x W, model.input_size)");
}

}  // namespace
}  // namespace useg
