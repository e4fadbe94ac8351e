#include <gtest/gtest.h>

#include <filesystem>

#include "useg/error.h"
#include "useg/files.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("useg_test_files_" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

TEST(Files, TempPathKeepsDoubleExtensionAndFolder) {
  std::string t = temp_path_for("/a/b/case_001.nii.gz");
  EXPECT_EQ(fs::path(t).parent_path(), fs::path("/a/b"));
  std::string name = fs::path(t).filename().string();
  EXPECT_EQ(name.rfind(".case_001.tmp-", 0), 0u) << name;
  EXPECT_EQ(name.substr(name.size() - 7), ".nii.gz") << name;
  EXPECT_NE(temp_path_for("/a/x.nrrd"), temp_path_for("/a/x.nrrd"));
}

TEST(Files, AtomicWriteReplacesAndLeavesNoTemp) {
  fs::path d = fresh_dir("atomic");
  std::string p = (d / "out.json").string();
  write_file_atomic(p, "first");
  write_file_atomic(p, "second version");
  EXPECT_EQ(read_file(p), "second version");
  int files = 0;
  for (auto& e : fs::directory_iterator(d)) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1);
}

TEST(Files, WriteIntoMissingFolderNamesTheFile) {
  try {
    write_file_atomic("/nonexistent_useg_dir/x.bin", "data");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent_useg_dir/x.bin"), std::string::npos);
  }
}

TEST(Files, ReadMissingFileNamesIt) {
  try {
    read_file("/nonexistent_useg_file.bin");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot read /nonexistent_useg_file.bin"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace useg
