// Resource guards, end to end: tiny files whose headers declare huge data are refused with a
// message naming the file and the limit, before anything is allocated. The `useg` binary runs
// with its address space capped at 4 GiB (`ulimit -v`; under AddressSanitizer, which reserves
// terabytes of address space, ASan's max_allocation_size_mb=2048 plays that part), so a guard
// that let a 17 GB allocation through would show as an out-of-memory error or an ASan report,
// not as the guard's message.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/expect_error.h"
#include "common/file_bytes.h"
#include "common/train_fixtures.h"
#include "segment_test_util.h"

namespace fs = std::filesystem;

#if defined(__SANITIZE_ADDRESS__)
#define USEG_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define USEG_TEST_ASAN 1
#endif
#endif

namespace useg {
namespace {

using test::quote;
using test::write_bytes;

// A NIfTI-1 header of float32 voxels of `dim` with its 4 extension bytes (no voxels).
std::string nifti_file_header(const std::vector<int16_t>& dim) {
  return test::nifti1_header(dim) + std::string(4, '\0');
}

// Runs `useg ARGS` with at most ~4 GiB of memory (see the top of the file).
test::CommandResult run_capped(const std::string& args, bool oom_is_an_error_message = false) {
#ifdef USEG_TEST_ASAN
  std::string env = std::string("ASAN_OPTIONS=detect_leaks=0:max_allocation_size_mb=2048:") +
                    "allocator_may_return_null=" + (oom_is_an_error_message ? "1" : "0");
  return test::run_useg(args, env);
#else
  (void)oom_is_an_error_message;
  std::string cmd = "ulimit -v 4194304; exec " + std::string(USEG_BINARY) + " " + args + " 2>&1";
  test::CommandResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
#endif
}

// Each test its own folder: ctest runs the tests of a fixture in parallel processes.
std::string test_name() { return ::testing::UnitTest::GetInstance()->current_test_info()->name(); }

class ResourceGuards : public ::testing::Test {
 protected:
  void SetUp() override {
    root = test::fresh_dir(std::string("guards_") + test_name());
    model = test::make_model(root / "model", test::ModelSpec{});
  }
  test::CommandResult segment(const fs::path& input, const std::string& extra = "",
                              bool oom_is_an_error_message = false) {
    return run_capped("segment --model " + model + " --input " + quote(input) + " --output " +
                          quote(root / "out") + " --threads 1 " + extra,
                      oom_is_an_error_message);
  }
  fs::path root;
  std::string model;
};

// ~100 bytes of MetaImage header, 2048 x 2048 x 1100 float32 = 17.3 GB declared.
TEST_F(ResourceGuards, TinyMetaImageHeaderDeclaring17GB) {
  fs::path mha = root / "huge.mha";
  write_bytes(mha, "ObjectType = Image\nNDims = 3\nDimSize = 2048 2048 1100\n"
                   "ElementType = MET_FLOAT\nElementDataFile = LOCAL\n");
  ASSERT_LT(fs::file_size(mha), 110u);
  auto r = segment(mha);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_HAS(r.output, "cannot read " + mha.string() + ": its header declares 2048x2048x1100 = "
                       "4613734400 voxels, more than the limit of 2147483648 voxels");
  EXPECT_EQ(r.output.find("out of"), std::string::npos) << r.output;
  // With the limits raised by hand the size check against the file refuses it, still before
  // any allocation.
  auto raised = segment(mha, "--max-voxels 100000000000 --max-memory 4T");
  EXPECT_EQ(raised.code, 1) << raised.output;
  EXPECT_HAS(raised.output, "huge.mha");
  EXPECT_HAS(raised.output, "truncated");
  EXPECT_EQ(raised.output.find("out of"), std::string::npos) << raised.output;
}

// 352 bytes of NIfTI-1 declaring 2048 x 2048 x 1050 float32 = 17.6 GB.
TEST_F(ResourceGuards, NiftiHeaderDeclaring17GB) {
  fs::path nii = root / "huge.nii";
  write_bytes(nii, nifti_file_header({3, 2048, 2048, 1050}));
  auto r = segment(nii);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_HAS(r.output, "cannot read " + nii.string() + ": its header declares 2048x2048x1050");
  EXPECT_HAS(r.output, "--max-voxels");
  // Under the voxel limit but over the memory limit: 1024 x 1024 x 1100 float32 = 4.3 GiB.
  fs::path wide = root / "wide.nii";
  write_bytes(wide, nifti_file_header({3, 1024, 1024, 1100}));
  auto m = segment(wide, "--max-memory 2G");
  EXPECT_EQ(m.code, 1) << m.output;
  EXPECT_HAS(m.output, "wide.nii");
  EXPECT_HAS(m.output, "more than --max-memory");
  // Default limits: refused as truncated (4.3 GiB declared, 352 bytes present).
  auto t = segment(wide);
  EXPECT_EQ(t.code, 1) << t.output;
  EXPECT_HAS(t.output, "the file is truncated");
  // A gzip-compressed file is checked too: its stream is inflated (in 1 MiB pieces, never more
  // than the header declares) and counted, so with the limits raised it is still refused as
  // truncated before the 17.6 GB are allocated.
  fs::path gz = root / "huge.nii.gz";
  {
    std::string cmd = "gzip -c " + quote(nii) + " > " + quote(gz);
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  auto g = segment(gz, "--max-voxels 100000000000 --max-memory 4T");
  EXPECT_EQ(g.code, 1) << g.output;
  EXPECT_HAS(g.output, "cannot read " + gz.string() + ": the file is truncated (its header "
                       "declares 17616076800 bytes of voxels from byte 352, the compressed "
                       "stream holds 352 bytes)");
  EXPECT_EQ(g.output.find("out of"), std::string::npos) << g.output;
}

// model.json declaring a network far bigger than weights.safetensors: refused before the network
// allocates its parameters (here ~4e12 parameters, 16 TB as float32).
TEST_F(ResourceGuards, ModelJsonBiggerThanItsWeights) {
  std::string text = read_file((fs::path(model) / "model.json").string());
  auto j = nlohmann::json::parse(text);
  j["model"]["base_filters"] = 1000000;
  j["model"]["max_filters"] = 1000000;
  write_file_atomic((fs::path(model) / "model.json").string(), j.dump(2));
  fs::path in = root / "a.nii.gz";
  Geometry g = test::oblique_geometry_3d();
  write_image(in.string(), test::pattern_volume(g), g, "float");
  auto r = segment(in);
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_HAS(r.output, "model.json declares an architecture of at least");
  EXPECT_HAS(r.output, "weights.safetensors holds");
  EXPECT_EQ(r.output.find("out of"), std::string::npos) << r.output;
}

// weights.safetensors whose header declares a 4 TB tensor in a file of 1 MiB.
TEST_F(ResourceGuards, SafetensorsHeaderDeclaringTerabytes) {
  std::string header =
      R"({"w":{"dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,4000000000000]}})";
  std::string bytes(8, '\0');
  uint64_t n = header.size();
  std::memcpy(&bytes[0], &n, 8);
  write_bytes(fs::path(model) / "weights.safetensors",
              bytes + header + std::string(1 << 20, '\0'));
  fs::path in = root / "a.nii.gz";
  Geometry g = test::oblique_geometry_3d();
  write_image(in.string(), test::pattern_volume(g), g, "float");
  auto r = segment(in);
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_HAS(r.output, "tensor 'w': data_offsets [0, 4000000000000] run past the end of the data "
                       "buffer (1048576 bytes)");
  EXPECT_EQ(r.output.find("out of"), std::string::npos) << r.output;
}

// ---- useg train: the same guards while scanning the dataset, before any case is loaded.
class TrainGuards : public ::testing::Test {
 protected:
  void SetUp() override {
    root = test::fresh_dir(std::string("train_guards_") + test_name());
    data = root / "data";
    test::BlobDataset b;
    b.cases = 3;
    b.size = 16;
    b.radius_min = 3;
    b.radius_max = 5;
    test::write_blob_dataset(data, b);
    config = root / "config.json";
    test::write_text(config, to_json_string(test::tiny_run(2)));
  }
  test::CommandResult train(const std::string& extra = "") {
    return run_capped("train --config " + quote(config) + " --data " + quote(data) +
                      " --output " + quote(root / "run") + " --threads 1 " + extra);
  }
  fs::path root, data, config;
};

// One case's image is 352 bytes of gzip-compressed NIfTI declaring 17.6 GB: the scan refuses it
// from the header, naming the case and the file, and nothing is trained.
TEST_F(TrainGuards, CaseDeclaring17GBIsRefusedFromItsHeader) {
  fs::path nii = root / "huge.nii";
  write_bytes(nii, nifti_file_header({3, 2048, 2048, 1050}));
  fs::path img = data / "imagesTr" / "blob_001_0000.nii.gz";
  std::string cmd = "gzip -c " + quote(nii) + " > " + quote(img);
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  auto r = train();
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_HAS(r.output, "case blob_001: cannot read " + img.string() +
                           ": its header declares 2048x2048x1050 = 4404019200 voxels, more than "
                           "the limit of 2147483648 voxels (raise it with --max-voxels");
  EXPECT_EQ(r.output.find("out of"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(root / "run" / "checkpoint.safetensors"));
}

// --max-voxels and --max-memory apply to every case of the dataset (16 x 16 = 256 voxels each).
TEST_F(TrainGuards, LimitsFromTheCommandLine) {
  auto v = train("--max-voxels 100");
  EXPECT_NE(v.code, 0) << v.output;
  EXPECT_HAS(v.output, "3 problem(s)");
  EXPECT_HAS(v.output, "case blob_000: cannot read " +
                           (data / "imagesTr" / "blob_000_0000.nii.gz").string() +
                           ": its header declares 16x16 = 256 voxels, more than the limit of 100");
  auto m = train("--max-memory 512");
  EXPECT_NE(m.code, 0) << m.output;
  EXPECT_HAS(m.output, "blob_002_0000.nii.gz: its header declares 16x16 voxels x 1 channel(s)");
  EXPECT_HAS(m.output, "(raise it with --max-memory if the file is right)");
  auto bad = train("--max-memory lots");
  EXPECT_NE(bad.code, 0) << bad.output;
  EXPECT_HAS(bad.output, "--max-memory expects bytes");
  // Within the limits the same dataset trains.
  auto ok = train("--max-voxels 256 --max-memory 1K");
  EXPECT_EQ(ok.code, 0) << ok.output;
}

// A 17 MiB dataset.json is refused without being read.
TEST_F(TrainGuards, HugeDatasetJsonIsRefusedUnread) {
  fs::path json = data / "dataset.json";
  std::string text = read_file(json.string());
  text.insert(text.size() - 2, ",\n  \"padding\": \"" + std::string(17 << 20, 'x') + "\"");
  write_bytes(json, text);
  auto r = train();
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_HAS(r.output, "cannot read " + json.string() + ": it is " +
                           std::to_string(fs::file_size(json)) +
                           " bytes, more than the limit of 16777216 bytes for a dataset.json");
}

}  // namespace
}  // namespace useg
