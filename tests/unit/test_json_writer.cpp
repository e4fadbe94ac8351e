// JsonValue (src/config/json_writer.h), the one JSON writer of the reports: escaping, UTF-8,
// non-finite numbers, nesting and key order, the numbers of JsonValue::number, and a round trip
// through the config parser.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "common/expect_error.h"
#include "config/json_util.h"
#include "config/json_writer.h"

namespace useg {
namespace {

// The text of a lone string value (dump() adds the final newline).
std::string dumped(const JsonValue& v) {
  std::string s = v.dump();
  EXPECT_FALSE(s.empty());
  EXPECT_EQ(s.back(), '\n');
  return s.substr(0, s.size() - 1);
}

cfg::Json parsed(const JsonValue& v) { return cfg::parse_json(v.dump(), "test"); }

TEST(JsonWriter, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(dumped(JsonValue("say \"hi\"")), R"("say \"hi\"")");
  EXPECT_EQ(dumped(JsonValue("C:\\scans\\a.nii")), R"("C:\\scans\\a.nii")");
  EXPECT_EQ(dumped(JsonValue("a\nb\tc\rd")), R"("a\nb\tc\rd")");
  EXPECT_EQ(dumped(JsonValue(std::string("x\x01y\x1f", 4))), R"("x\u0001y\u001f")");
  EXPECT_EQ(dumped(JsonValue(std::string("nul\0!", 5))), R"("nul\u0000!")");
  // Every byte below 0x20 comes back as it was.
  std::string all;
  for (int c = 0; c < 0x20; ++c) all += static_cast<char>(c);
  EXPECT_EQ(parsed(JsonValue(all)).get<std::string>(), all);
}

TEST(JsonWriter, Utf8PassesThroughAndInvalidBytesBecomeReplacementCharacters) {
  const std::string utf8 = "spacing \xc2\xb5m, Z\xc3\xbcrich \xe2\x9c\x93 \xf0\x9f\xa7\xa0";
  EXPECT_EQ(dumped(JsonValue(utf8)), "\"" + utf8 + "\"");  // written as is, not \u-escaped
  EXPECT_EQ(parsed(JsonValue(utf8)).get<std::string>(), utf8);
  // A Latin-1 file name: not valid UTF-8; the text stays valid JSON.
  const std::string latin1 = "scan_M\xfcller.nii.gz";
  JsonValue o = JsonValue::object();
  o.set("input", latin1);
  EXPECT_EQ(parsed(o).at("input").get<std::string>(), "scan_M\xef\xbf\xbdller.nii.gz");
}

TEST(JsonWriter, NonFiniteNumbersAreNull) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  JsonValue a = JsonValue::array();
  for (double v : {nan, inf, -inf}) {
    a.push_back(v);
    a.push_back(JsonValue::number(v, 10));
  }
  EXPECT_EQ(dumped(a), "[null, null, null, null, null, null]");
}

TEST(JsonWriter, NestingKeyOrderAndReplacement) {
  JsonValue row = JsonValue::object();
  row.set("case", "b").set("label", 1).set("dice", 0.5);
  JsonValue rows = JsonValue::array();
  rows.push_back(row);
  rows.push_back(JsonValue::object());
  JsonValue top = JsonValue::object();
  top.set("zeta", true).set("alpha", nullptr).set("rows", rows).set("empty", JsonValue::array());
  top.set("zeta", false);  // replaced in its place
  EXPECT_EQ(top.size(), 4u);
  EXPECT_EQ(top.dump(),
            "{\n"
            "  \"zeta\": false,\n"
            "  \"alpha\": null,\n"
            "  \"rows\": [\n"
            "    {\n"
            "      \"case\": \"b\",\n"
            "      \"label\": 1,\n"
            "      \"dice\": 0.5\n"
            "    },\n"
            "    {}\n"
            "  ],\n"
            "  \"empty\": []\n"
            "}\n");
  // Arrays of scalars from vectors, short ones on one line.
  JsonValue v = JsonValue::object();
  v.set("size", std::vector<int64_t>{512, 512, 87}).set("names", std::vector<std::string>{"a", "b"});
  EXPECT_EQ(v.dump(), "{\n  \"size\": [512, 512, 87],\n  \"names\": [\"a\", \"b\"]\n}\n");
}

TEST(JsonWriter, WrongKindIsAnError) {
  JsonValue a = JsonValue::array(), o = JsonValue::object();
  test::expect_error([&] { a.set("k", 1); }, "JsonValue::set(\"k\") on a value that is not an object");
  test::expect_error([&] { o.push_back(1); }, "not an array");
  test::expect_error([&] { JsonValue(3).push_back(1); }, "not an array");
}

TEST(JsonWriter, IntegersAndFullPrecisionDoubles) {
  JsonValue a = JsonValue::array();
  a.push_back(int64_t(9007199254740993));  // 2^53 + 1: exact as an integer
  a.push_back(size_t(7));
  a.push_back(-3);
  a.push_back(0.1);
  a.push_back(1.0 / 3.0);
  a.push_back(3.0);
  const cfg::Json j = parsed(a);
  EXPECT_EQ(j[0].get<int64_t>(), int64_t(9007199254740993));
  EXPECT_EQ(j[1].get<int>(), 7);
  EXPECT_EQ(j[2].get<int>(), -3);
  EXPECT_EQ(j[3].get<double>(), 0.1);
  EXPECT_EQ(j[4].get<double>(), 1.0 / 3.0);  // every bit kept
  EXPECT_TRUE(j[5].is_number_float());
  EXPECT_EQ(j[5].get<double>(), 3.0);
}

// The reports used to print numbers with printf's "%.10g". JsonValue::number(v, 10) writes text
// that reads back to the very same double as that text did, and keeps whole numbers integers.
TEST(JsonWriter, NumberReadsBackAsPrintfWithTheSameDigits) {
  const double values[] = {0.0,        -0.0,        1.0,       3.0,          -42.0,
                           0.1,        1.0 / 3.0,   2.0 / 3.0, 1e-5,         1.5e-5,
                           123.456789, 0.000123456, 1e10,      12345678901.0, 9.87654321e15,
                           1e300,      -2.5e-300,   4.9e-324,  3.141592653589793e12,  0.30000000000000004,
                           1234567890.5};
  for (double v : values) {
    char text[64];
    std::snprintf(text, sizeof text, "%.10g", v);
    const cfg::Json old_text = cfg::parse_json(text, "printf");
    const cfg::Json now = parsed(JsonValue::number(v, 10));
    EXPECT_EQ(now.is_number_integer(), old_text.is_number_integer())
        << text << " now " << now.dump();
    const double a = old_text.get<double>(), b = now.get<double>();
    EXPECT_EQ(a, b) << text << " now " << now.dump();
    if (a != 0) {
      EXPECT_EQ(std::memcmp(&a, &b, sizeof a), 0) << text;  // bit for bit
    }
  }
  EXPECT_EQ(dumped(JsonValue::number(2.0, 10)), "2");
  EXPECT_EQ(dumped(JsonValue::number(1e10, 10)), "10000000000.0");  // printf: 1e+10, a float
  EXPECT_EQ(dumped(JsonValue::number(0.1234567890123, 10)), "0.123456789");
  EXPECT_EQ(dumped(JsonValue::number(1.0 / 3.0, 4)), "0.3333");
  test::expect_error([] { JsonValue::number(1, 0); }, "significant_digits must be 1..17");
}

// What the config parser reads back is what was built.
TEST(JsonWriter, RoundTripThroughTheConfigParser) {
  JsonValue report = JsonValue::object();
  report.set("model", "models/nuclei2d").set("counts", JsonValue::object().set("total", 3));
  JsonValue cases = JsonValue::array();
  cases.push_back(JsonValue::object()
                      .set("case", "p01/ct \"arterial\"")
                      .set("inputs", std::vector<std::string>{"a_0000.nii.gz", "a_0001.nii.gz"})
                      .set("spacing", std::vector<double>{0.78, 0.78, 2.5})
                      .set("channels", 2)
                      .set("ok", true)
                      .set("error", ""));
  cases.push_back(JsonValue::object().set("case", "x").set("size", nullptr));
  report.set("cases", cases);
  const cfg::Json j = parsed(report);  // strict: duplicate keys would be an error
  EXPECT_EQ(j.at("model"), "models/nuclei2d");
  EXPECT_EQ(j.at("counts").at("total"), 3);
  ASSERT_EQ(j.at("cases").size(), 2u);
  const cfg::Json& c = j.at("cases")[0];
  EXPECT_EQ(c.at("case"), "p01/ct \"arterial\"");
  EXPECT_EQ(c.at("inputs")[1], "a_0001.nii.gz");
  EXPECT_EQ(c.at("spacing")[2].get<double>(), 2.5);
  EXPECT_EQ(c.at("spacing")[0].get<double>(), 0.78);
  EXPECT_EQ(c.at("channels"), 2);
  EXPECT_EQ(c.at("ok"), true);
  EXPECT_EQ(c.at("error"), "");
  EXPECT_TRUE(j.at("cases")[1].at("size").is_null());
  // Written again from what was read (keeping the order), the text is the same.
  EXPECT_EQ(cfg::dump_pretty(cfg::OJson::parse(report.dump())), report.dump());
}

}  // namespace
}  // namespace useg
