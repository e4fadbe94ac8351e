// Pairing of prediction and reference files by case name.
#include <algorithm>
#include <map>

#include "util/cases.h"
#include "useg/error.h"
#include "useg/eval.h"

namespace useg {

namespace {

bool is_separator(char c) { return c == '_' || c == '-' || c == '.'; }

}  // namespace

CasePairing pair_cases(const std::vector<std::string>& pred_files,
                       const std::vector<std::string>& ref_files) {
  std::map<std::string, std::string> refs;  // stem -> file
  for (const std::string& f : ref_files) {
    const std::string stem = image_stem(f);
    auto [it, fresh] = refs.emplace(stem, f);
    if (!fresh)
      USEG_THROW("two reference files have the case name '" << stem << "': " << it->second
                                                            << " and " << f);
  }
  std::map<std::string, std::vector<std::string>> claims;  // ref stem -> prediction files
  CasePairing out;
  for (const std::string& f : pred_files) {
    const std::string stem = image_stem(f);
    std::string owner;
    if (refs.count(stem)) {
      owner = stem;
    } else {
      // The longest reference name R with stem = R + separator + something.
      for (const auto& [r, file] : refs)
        if (stem.size() > r.size() + 1 && stem.compare(0, r.size(), r) == 0 &&
            is_separator(stem[r.size()]) && r.size() > owner.size())
          owner = r;
    }
    if (owner.empty())
      out.unmatched_predictions.push_back(f);
    else
      claims[owner].push_back(f);
  }
  for (const auto& [stem, ref] : refs) {
    auto it = claims.find(stem);
    if (it == claims.end()) {
      out.missing_predictions.push_back(ref);
      continue;
    }
    const std::vector<std::string>& preds = it->second;
    if (preds.size() > 1) {
      std::string list;
      for (const std::string& p : preds) list += (list.empty() ? "" : ", ") + p;
      out.problems.emplace_back(stem, "more than one prediction for reference " + ref + ": " +
                                          list + " (keep one, or evaluate them separately)");
      continue;
    }
    out.pairs.push_back(CasePair{stem, preds[0], ref});
  }
  return out;
}

}  // namespace useg
