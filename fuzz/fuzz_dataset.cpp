// libFuzzer target: the dataset.json parser of `useg train` (src/config/dataset_json.cpp). Every
// input must end in a useg::Error or a parsed DatasetJson that keeps the parser's promises (at
// least one channel, labels sorted by value starting at background 0, a file ending) — never a
// crash, a sanitizer report or another exception.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "train/dataset.h"
#include "useg/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    useg::DatasetJson d = useg::parse_dataset_json(text, "dataset.json");
    if (d.channel_names.empty() || d.labels.size() < 2 || d.labels.front().second != 0 ||
        d.file_ending.empty() || d.file_ending[0] != '.')
      std::abort();
    for (size_t i = 1; i < d.labels.size(); ++i)
      if (d.labels[i - 1].second >= d.labels[i].second) std::abort();
  } catch (const useg::Error&) {
  }
  return 0;
}
