// safetensors: round trips, hand-written F16/BF16 bytes, a PyTorch-made golden file, and every
// class of malformed file by its message (plus a mutation sweep: never anything but useg::Error).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <string>

#include "io/half.h"
#include "useg/error.h"
#include "core/files.h"
#include "io/safetensors.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

const char* kSrc = "w.safetensors";

uint32_t float_bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

std::string le64(uint64_t v) {
  std::string s;
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  return s;
}

// A file from a header text and raw data bytes.
std::string st_file(const std::string& header, const std::string& data = "") {
  return le64(header.size()) + header + data;
}

// Little-endian 16-bit words.
std::string words(std::initializer_list<uint16_t> ws) {
  std::string s;
  for (uint16_t w : ws) {
    s.push_back(static_cast<char>(w & 0xFF));
    s.push_back(static_cast<char>(w >> 8));
  }
  return s;
}

std::string parse_error(const std::string& bytes) {
  try {
    parse_safetensors(bytes, kSrc);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a useg::Error";
  return "";
}

Tensor iota(const Shape& s, float start, float step) {
  Tensor t = Tensor::empty(s);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = start + step * static_cast<float>(i);
  return t;
}

void expect_same_bits(const Tensor& a, const Tensor& b) {
  ASSERT_EQ(a.shape(), b.shape());
  for (int64_t i = 0; i < a.numel(); ++i)
    ASSERT_EQ(float_bits(a.data()[i]), float_bits(b.data()[i])) << "element " << i;
}

// ------------------------------------------------------------------------------ round trip
TEST(Safetensors, RoundTripRanksValuesAndMetadata) {
  Tensor special = Tensor::empty(Shape{6});
  const float inf = std::numeric_limits<float>::infinity();
  const float vals[] = {-0.0f, inf, -inf, std::numeric_limits<float>::quiet_NaN(),
                        std::numeric_limits<float>::denorm_min(), 3.4e38f};
  std::memcpy(special.data(), vals, sizeof vals);
  std::vector<std::pair<std::string, Tensor>> tensors = {
      {"enc.0.conv.weight", iota(Shape{4, 3, 1, 3, 3}, -1.0f, 0.01f)},
      {"rank4", iota(Shape{2, 1, 3, 2}, 5.0f, -0.5f)},
      {"rank3", iota(Shape{2, 3, 4}, 0.0f, 1.0f)},
      {"rank2", iota(Shape{3, 1}, 1.0f, 1.0f)},
      {"special", special},
      {"empty", Tensor::empty(Shape{0, 4})},
      {"ünïcode name", iota(Shape{1}, 7.0f, 0.0f)},
  };
  std::map<std::string, std::string> meta = {{"format", "pt"}, {"useg", "1 \"quoted\" ü"}};

  fs::path p = fs::temp_directory_path() / "useg_test_roundtrip.safetensors";
  write_safetensors(p.string(), tensors, meta);
  std::string bytes = read_file(p.string());
  EXPECT_EQ(bytes, serialize_safetensors(tensors, meta));
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ((8 + n) % 8, 0u) << "data must start 8-byte aligned";
  EXPECT_EQ(bytes[8], '{');

  SafetensorsFile f = read_safetensors(p.string());
  fs::remove(p);
  EXPECT_EQ(f.metadata, meta);
  ASSERT_EQ(f.tensors.size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    SCOPED_TRACE(name);
    ASSERT_EQ(f.tensors.count(name), 1u);
    expect_same_bits(f.tensors.at(name), t);
  }
}

TEST(Safetensors, NoTensorsNoMetadata) {
  std::string bytes = serialize_safetensors({});
  EXPECT_EQ(bytes, st_file("{}      "));
  SafetensorsFile f = parse_safetensors(bytes, kSrc);
  EXPECT_TRUE(f.tensors.empty());
  EXPECT_TRUE(f.metadata.empty());
}

// ------------------------------------------------------------------ F16 / BF16 by hand
TEST(Safetensors, HandWrittenHalfAndBfloat16) {
  std::string header =
      R"({"h":{"dtype":"F16","shape":[3,3],"data_offsets":[0,18]},)"
      R"("b":{"dtype":"BF16","shape":[6],"data_offsets":[18,30]},)"
      R"("s":{"dtype":"F32","shape":[],"data_offsets":[30,34]}})";
  std::string data =
      words({0x3C00, 0xC000, 0x7BFF, 0x0001, 0x03FF, 0x0400, 0x7C00, 0xFC00, 0x8000}) +
      words({0x3F80, 0xC000, 0x0001, 0x7F80, 0x7FC0, 0x4049}) +
      std::string("\x00\x00\x20\x40", 4);  // 2.5f
  SafetensorsFile f = parse_safetensors(st_file(header, data), kSrc);
  const Tensor& h = f.tensors.at("h");
  EXPECT_EQ(h.shape(), (Shape{3, 3}));
  const float* v = h.data();
  EXPECT_EQ(v[0], 1.0f);
  EXPECT_EQ(v[1], -2.0f);
  EXPECT_EQ(v[2], 65504.0f);
  EXPECT_EQ(v[3], std::ldexp(1.0f, -24));          // smallest subnormal
  EXPECT_EQ(v[4], std::ldexp(1023.0f, -24));       // largest subnormal
  EXPECT_EQ(v[5], std::ldexp(1.0f, -14));          // smallest normal
  EXPECT_EQ(v[6], std::numeric_limits<float>::infinity());
  EXPECT_EQ(v[7], -std::numeric_limits<float>::infinity());
  EXPECT_EQ(float_bits(v[8]), 0x80000000u);        // -0
  const float* b = f.tensors.at("b").data();
  EXPECT_EQ(b[0], 1.0f);
  EXPECT_EQ(b[1], -2.0f);
  EXPECT_EQ(b[2], std::ldexp(1.0f, -133));         // bf16 subnormal
  EXPECT_EQ(b[3], std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(b[4]));
  EXPECT_EQ(b[5], 3.140625f);
  EXPECT_EQ(f.tensors.at("s").shape(), (Shape{1}));  // scalars read as [1]
  EXPECT_EQ(f.tensors.at("s").data()[0], 2.5f);
}

TEST(Safetensors, HalfConversionNaNs) {
  EXPECT_TRUE(std::isnan(half_to_float(0x7E00)));
  EXPECT_TRUE(std::isnan(half_to_float(0xFC01)));
  EXPECT_TRUE(std::isnan(bfloat16_to_float(0xFF81)));
}

#if defined(__FLT16_MAX__)
TEST(Safetensors, HalfConversionMatchesCompilerForAllBitPatterns) {
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    uint16_t h16 = static_cast<uint16_t>(bits);
    _Float16 h;
    std::memcpy(&h, &h16, 2);
    float expected = static_cast<float>(h), got = half_to_float(h16);
    if (std::isnan(expected)) {
      ASSERT_TRUE(std::isnan(got)) << std::hex << bits;
    } else {
      ASSERT_EQ(float_bits(got), float_bits(expected)) << std::hex << bits;
    }
  }
}
#endif

// ----------------------------------------------------------------------- PyTorch golden
TEST(Safetensors, ReadsFileMadeWithPyTorch) {
  // scripts/make_safetensors_golden.py: PyTorch values laid out as the reference writer does.
  SafetensorsFile f = read_safetensors(std::string(USEG_TEST_DATA) + "/golden_torch.safetensors");
  EXPECT_EQ(f.metadata.at("format"), "pt");
  EXPECT_EQ(f.tensors.size(), 9u);
  for (const char* pair : {"half", "bhalf"}) {
    SCOPED_TRACE(pair);
    const Tensor& low = f.tensors.at(pair);
    const Tensor& ref = f.tensors.at(std::string(pair) + "_as_f32");  // torch's .float()
    ASSERT_EQ(low.shape(), ref.shape());
    for (int64_t i = 0; i < low.numel(); ++i) {
      if (std::isnan(ref.data()[i])) EXPECT_TRUE(std::isnan(low.data()[i])) << i;
      else EXPECT_EQ(float_bits(low.data()[i]), float_bits(ref.data()[i])) << i;
    }
  }
  EXPECT_EQ(f.tensors.at("half").data()[2], 65504.0f);
  EXPECT_EQ(f.tensors.at("conv.weight").shape(), (Shape{2, 3, 1, 3, 3}));
  EXPECT_EQ(f.tensors.at("bhalf").shape(), (Shape{2, 16}));
  EXPECT_EQ(f.tensors.at("scalar").shape(), (Shape{1}));
  EXPECT_EQ(f.tensors.at("scalar").data()[0], 2.5f);
  EXPECT_EQ(f.tensors.at("empty").shape(), (Shape{0, 3}));
  const Tensor& m = f.tensors.at("matrix");
  for (int64_t i = 0; i < 12; ++i) EXPECT_EQ(m.data()[i], static_cast<float>(i) - 5.5f);
}

// ------------------------------------------------------------------------------ malformed
const std::string kOne = R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
const std::string kEight(8, '\0');

TEST(SafetensorsErrors, TruncatedFileAndHeader) {
  EXPECT_EQ(parse_error(""), "w.safetensors: not a safetensors file: 0 bytes, shorter than the "
                             "8-byte header length");
  EXPECT_EQ(parse_error("abcde"), "w.safetensors: not a safetensors file: 5 bytes, shorter than "
                                  "the 8-byte header length");
  std::string full = st_file(kOne, kEight);
  EXPECT_EQ(parse_error(full.substr(0, 30)),
            "w.safetensors: safetensors header length 54 runs past the end of the file (22 bytes "
            "follow the length): the file is truncated or not a safetensors file");
  EXPECT_EQ(parse_error(full.substr(0, full.size() - 1)),
            "w.safetensors: tensor 't': data_offsets [0, 8] run past the end of the data buffer "
            "(7 bytes): the file is truncated or corrupt");
}

TEST(SafetensorsErrors, HugeHeaderLength) {
  EXPECT_EQ(parse_error(le64(1ull << 40) + "{}"),
            "w.safetensors: safetensors header length 1099511627776 exceeds the 100 MB limit: the "
            "file is corrupt or not a safetensors file");
  EXPECT_NE(parse_error(le64(UINT64_MAX) + "{}").find("exceeds the 100 MB limit"),
            std::string::npos);
}

TEST(SafetensorsErrors, BadJsonAndStructure) {
  EXPECT_EQ(parse_error(st_file("{not json}")),
            "w.safetensors (safetensors header):1:3: JSON syntax error: syntax error while "
            "parsing object key - invalid literal; last read: '{no'; expected string literal");
  EXPECT_EQ(parse_error(st_file("[1, 2]")),
            "w.safetensors: the safetensors header must be a JSON object, got an array of 2 "
            "values");
  EXPECT_EQ(parse_error(st_file(R"({"t": 3})")),
            "w.safetensors: tensor 't': expected an object {dtype, shape, data_offsets}, got "
            "number 3");
  EXPECT_EQ(parse_error(st_file(R"({"t":{"shape":[1],"data_offsets":[0,4]}})", "abcd")),
            "w.safetensors: tensor 't': missing 'dtype'");
  EXPECT_EQ(parse_error(st_file(R"({"t":{"dtype":"F32","shape":"2","data_offsets":[0,8]}})")),
            "w.safetensors: tensor 't': shape: expected an array of non-negative integers, got "
            "string \"2\"");
  EXPECT_EQ(parse_error(st_file(R"({"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})")),
            "w.safetensors: tensor 't': shape: expected a non-negative integer, got number -2");
  EXPECT_EQ(parse_error(st_file(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[8]}})")),
            "w.safetensors: tensor 't': data_offsets: expected [begin, end], got an array of 1 "
            "value");
  EXPECT_EQ(parse_error(st_file(R"({"t":{"dtype":"F32","shape":[1,1,1,1,1,1],)"
                                R"("data_offsets":[0,4]}})")),
            "w.safetensors: tensor 't': shape has rank 6; useg supports ranks 0 to 5");
  EXPECT_EQ(parse_error(st_file(R"({"__metadata__":{"epoch":3}})")),
            "w.safetensors: __metadata__.epoch: expected a string, got number 3");
  EXPECT_EQ(parse_error(st_file(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                R"("t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                kEight)),
            "w.safetensors (safetensors header): duplicate key 't'");
}

// PyTorch state_dicts hold integer counters (BatchNorm's num_batches_tracked, I64).
TEST(Safetensors, IntegersReadAsFloat) {
  std::string data;
  for (int64_t v : {int64_t(7), int64_t(-3)})
    for (int b = 0; b < 8; ++b) data.push_back(static_cast<char>((uint64_t(v) >> (8 * b)) & 0xff));
  for (int32_t v : {int32_t(123456), int32_t(-1)})
    for (int b = 0; b < 4; ++b) data.push_back(static_cast<char>((uint32_t(v) >> (8 * b)) & 0xff));
  SafetensorsFile f = parse_safetensors(
      st_file(R"({"a":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},)"
              R"("b":{"dtype":"I32","shape":[2],"data_offsets":[16,24]}})",
              data),
      "ints.safetensors");
  EXPECT_EQ(f.tensors.at("a").to_vector(), (std::vector<float>{7.f, -3.f}));
  EXPECT_EQ(f.tensors.at("b").to_vector(), (std::vector<float>{123456.f, -1.f}));
}

TEST(SafetensorsErrors, DtypeSizesAndOffsets) {
  EXPECT_EQ(parse_error(st_file(R"({"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})",
                                kEight)),
            "w.safetensors: tensor 't': unsupported dtype 'U8' (supported: F32, F16, BF16, I64, "
            "I32)");
  EXPECT_EQ(parse_error(st_file(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})",
                                kEight)),
            "w.safetensors: tensor 't': data_offsets [0, 16] run past the end of the data buffer "
            "(8 bytes): the file is truncated or corrupt");
  EXPECT_EQ(parse_error(st_file(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})",
                                kEight)),
            "w.safetensors: tensor 't': dtype F32 and shape [3] need 12 bytes but data_offsets "
            "[0, 8] hold 8");
  EXPECT_EQ(parse_error(st_file(R"({"t":{"dtype":"F16","shape":[2],"data_offsets":[6,2]}})",
                                kEight)),
            "w.safetensors: tensor 't': data_offsets [6, 2] are reversed (begin > end)");
  EXPECT_EQ(parse_error(st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                R"("b":{"dtype":"F16","shape":[2],"data_offsets":[4,8]}})",
                                kEight)),
            "w.safetensors: tensors 'a' [0, 8] and 'b' [4, 8] overlap in the data buffer");
  EXPECT_EQ(parse_error(st_file(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296,16],)"
                                R"("data_offsets":[0,8]}})",
                                kEight)),
            "w.safetensors: tensor 't': shape [4294967296, 4294967296, 16] has too many elements");
  EXPECT_EQ(parse_error(st_file(R"({"t":{"dtype":"F32","shape":[4611686018427387904],)"
                                R"("data_offsets":[0,8]}})",
                                kEight)),
            "w.safetensors: tensor 't': shape [4611686018427387904] has too many elements");
  EXPECT_EQ(parse_error(st_file(R"({"t":{"dtype":"F32","shape":[0,18446744073709551615],)"
                                R"("data_offsets":[0,0]}})")),
            "w.safetensors: tensor 't': shape [0, 18446744073709551615] has too many elements");
}

TEST(SafetensorsErrors, MissingFileNamesIt) {
  try {
    read_safetensors("/nonexistent/weights.safetensors");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/weights.safetensors"), std::string::npos);
  }
}

TEST(SafetensorsErrors, WriterRejectsBadNames) {
  Tensor t = Tensor::zeros(Shape{2});
  auto write_error = [](const std::vector<std::pair<std::string, Tensor>>& ts) {
    try {
      write_safetensors("/tmp/useg_never_written.safetensors", ts);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(write_error({{"a", t}, {"a", t}}),
            "cannot write /tmp/useg_never_written.safetensors: duplicate tensor name 'a'");
  EXPECT_EQ(write_error({{"__metadata__", t}}),
            "cannot write /tmp/useg_never_written.safetensors: '__metadata__' is not a tensor "
            "name");
  EXPECT_EQ(write_error({{"u", Tensor()}}),
            "cannot write /tmp/useg_never_written.safetensors: tensor 'u' is undefined");
  EXPECT_FALSE(fs::exists("/tmp/useg_never_written.safetensors"));
}

// Truncations at every length and random byte changes: each either parses or throws useg::Error.
TEST(SafetensorsErrors, MutatedFilesNeverCrash) {
  std::string good = serialize_safetensors(
      {{"a", iota(Shape{2, 3}, 0, 1)}, {"b", iota(Shape{4}, 1, 1)}}, {{"k", "v"}});
  auto survive = [](const std::string& bytes) {
    try {
      parse_safetensors(bytes, kSrc);
    } catch (const Error&) {
    }
  };
  for (size_t n = 0; n < good.size(); ++n) survive(good.substr(0, n));
  std::mt19937 rng(1234);
  for (int iter = 0; iter < 3000; ++iter) {
    std::string b = good;
    int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      size_t pos = rng() % b.size();
      const char interesting[] = {'0', '9', '-', '[', ']', '{', '}', '"', ',', ':', 'e', '\xff'};
      b[pos] = rng() % 2 ? static_cast<char>(rng()) : interesting[rng() % sizeof interesting];
    }
    survive(b);
  }
}

}  // namespace
}  // namespace useg
