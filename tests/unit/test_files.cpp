#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/image_fixtures.h"
#include "useg/error.h"
#include "core/files.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

fs::path fresh_dir(const std::string& name) { return test::fresh_dir("files_" + name); }

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

// Temporary names carry host and pid: ".NAME.tmp-HOST-PID-N.EXT".
TEST(Files, TempNamesParseBack) {
  std::string name = fs::path(temp_path_for("/x/scan.nii.gz")).filename().string();
  EXPECT_TRUE(is_temp_name(name)) << name;
  EXPECT_NE(name.find("-" + std::to_string(::getpid()) + "-"), std::string::npos) << name;
  EXPECT_TRUE(is_temp_name(fs::path(temp_path_for("/x/noext")).filename().string()));
  for (const char* not_temp : {"scan.nii.gz", ".hidden", ".scan.tmp-.nii", "scan.tmp-h-1-2.nii",
                               ".scan.tmp-host-12.nii.gz", ".a.tmp-ho.st-1-2"})
    EXPECT_FALSE(is_temp_name(not_temp)) << not_temp;
}

// Temporary files of dead processes on this host are removed; those of live processes (this
// one) and of other hosts (unless older than the age limit) are kept; other files are kept.
TEST(Files, StaleTempFilesOfDeadProcessesAreRemoved) {
  fs::path d = fresh_dir("stale");
  auto with_pid = [&](const std::string& final_name, long pid) {
    std::string t = temp_path_for((d / final_name).string());
    std::string mine = "-" + std::to_string(::getpid()) + "-";
    size_t at = t.rfind(mine);
    return fs::path(t.substr(0, at) + "-" + std::to_string(pid) + "-" + t.substr(at + mine.size()));
  };
  // A pid that is not running: a child that has exited and been reaped.
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  int st = 0;
  ::waitpid(child, &st, 0);
  fs::path dead = with_pid("a.nii.gz", child);
  fs::path dead_dir = with_pid("b.nhdr", child);  // detached headers use a temporary folder
  fs::path live = with_pid("c.nii.gz", ::getpid());
  fs::path foreign = d / ".d.tmp-otherhost-1-0.nii.gz";
  fs::path keep = d / "e.nii.gz";
  for (const fs::path& p : {dead, live, foreign, keep}) std::ofstream(p) << "x";
  fs::create_directories(dead_dir);
  std::ofstream(dead_dir / "b.raw.gz") << "x";
  EXPECT_EQ(remove_stale_temp_files(d.string()), 2u);
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_FALSE(fs::exists(dead_dir));
  for (const fs::path& p : {live, foreign, keep}) EXPECT_TRUE(fs::exists(p)) << p;
  // Another host's file is removed only once older than the age limit.
  fs::last_write_time(foreign, fs::file_time_type::clock::now() - std::chrono::hours(200));
  EXPECT_EQ(remove_stale_temp_files(d.string()), 1u);
  EXPECT_FALSE(fs::exists(foreign));
  EXPECT_EQ(remove_stale_temp_files(d.string(), 0), 0u);
  EXPECT_EQ(remove_stale_temp_files((d / "missing").string()), 0u);
}

}  // namespace
}  // namespace useg
