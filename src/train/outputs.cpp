#include "train/outputs.h"

#include <fcntl.h>
#include <stdio.h>  // renameat2
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "plot/curves.h"
#include "useg/error.h"
#include "core/files.h"

namespace fs = std::filesystem;

namespace useg::training {

namespace {

std::string fmt(double v, int digits) {
  if (std::isnan(v)) return "";
  char b[64];
  std::snprintf(b, sizeof b, "%.*g", digits, v);
  return b;
}

std::string column_name(const std::string& label) {
  std::string s = label;
  for (char& c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) c = '_';
  return s;
}

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : line) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

double parse_number(const std::string& s, const std::string& source) {
  if (s.empty()) return std::nan("");
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  USEG_REQUIRE(end && *end == '\0', source << ": bad number '" << s << "' in the metrics rows");
  return v;
}

void fsync_dir(const fs::path& p) {
  int fd = ::open(p.empty() ? "." : p.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

MetricsLayout metrics_layout(const std::vector<std::string>& labels, bool classifier) {
  if (classifier) return {labels, "recall_", "recall", "accuracy", "accuracy"};
  std::vector<std::string> fg(labels.begin() + (labels.empty() ? 0 : 1), labels.end());
  return {fg, "dice_", "Dice", "mean_fg_dice", "mean foreground Dice"};
}

std::string metrics_header(const MetricsLayout& l) {
  std::string h = "epoch,train_loss";
  for (const std::string& c : l.class_names) h += "," + l.class_prefix + column_name(c);
  return h + "," + l.score_column + ",lr,seconds,skipped_steps";
}

std::string metrics_row(const EpochRow& r) {
  std::ostringstream os;
  os << r.epoch << "," << fmt(r.train_loss, 17);
  for (double d : r.scores) os << "," << fmt(d, 10);
  os << "," << fmt(r.score, 10) << "," << fmt(r.lr, 10) << "," << fmt(r.seconds, 6) << ","
     << r.skipped_steps;
  return os.str();
}

std::vector<EpochRow> parse_metrics_rows(const std::string& text, size_t foreground,
                                         const std::string& source) {  // foreground = classes
  std::vector<EpochRow> rows;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::vector<std::string> f = split(line, ',');
    USEG_REQUIRE(f.size() == foreground + 6, source << ": a metrics row has " << f.size()
                                                    << " fields, expected " << foreground + 6);
    EpochRow r;
    r.epoch = static_cast<int>(parse_number(f[0], source));
    r.train_loss = parse_number(f[1], source);
    for (size_t k = 0; k < foreground; ++k) r.scores.push_back(parse_number(f[2 + k], source));
    r.score = parse_number(f[2 + foreground], source);
    r.lr = parse_number(f[3 + foreground], source);
    r.seconds = parse_number(f[4 + foreground], source);
    r.skipped_steps = static_cast<long long>(parse_number(f[5 + foreground], source));
    rows.push_back(r);
  }
  return rows;
}

void write_metrics(const std::string& run_dir, const MetricsLayout& layout,
                   const std::vector<EpochRow>& rows, const std::string& title) {
  std::string csv = metrics_header(layout) + "\n";
  for (const EpochRow& r : rows) csv += metrics_row(r) + "\n";
  write_file_atomic((fs::path(run_dir) / "metrics.csv").string(), csv);

  plot::Series loss{"training loss", {}, {}};
  std::vector<plot::Series> dice;
  for (const std::string& c : layout.class_names)
    dice.push_back({layout.class_title + " " + c, {}, {}});
  plot::Series mean{layout.score_title, {}, {}};
  int best_epoch = 0;
  double best = -1;
  for (const EpochRow& r : rows) {
    if (r.score > best) best = r.score, best_epoch = r.epoch;
    if (std::isfinite(r.train_loss)) {
      loss.x.push_back(r.epoch);
      loss.y.push_back(r.train_loss);
    }
    if (std::isnan(r.score)) continue;
    for (size_t k = 0; k < r.scores.size() && k < dice.size(); ++k) {
      dice[k].x.push_back(r.epoch);
      dice[k].y.push_back(r.scores[k]);
    }
    mean.x.push_back(r.epoch);
    mean.y.push_back(r.score);
  }
  // With one class column its score is the mean (segmentation): draw it once.
  if (dice.size() > 1 || layout.class_prefix != "dice_") dice.push_back(mean);
  plot::write_training_curves((fs::path(run_dir) / "curves.png").string(), {loss}, dice, title,
                              best_epoch, best);
}

void save_model_dir_atomic(const std::string& dir, const ModelInfo& info, const Network& net) {
  fs::path final_dir = fs::path(dir).lexically_normal();
  if (final_dir.filename().empty()) final_dir = final_dir.parent_path();
  fs::path parent = final_dir.parent_path();
  // Hidden names of the temp_path_for form (".last.tmp-HOST-PID-N"), as every other temporary.
  fs::path tmp = temp_path_for(final_dir.string());
  std::error_code ec;
  fs::remove_all(tmp, ec);
  try {
    save_model_dir(tmp.string(), info, net);
  } catch (const Error& e) {  // e.g. a full disk: leave no half-written hidden folder behind
    fs::remove_all(tmp, ec);
    // Name the file the user knows (RUN/best/weights.safetensors), not the hidden folder.
    std::string what = e.what();
    for (size_t at; (at = what.find(tmp.string())) != std::string::npos;)
      what.replace(at, tmp.string().size(), final_dir.string());
    if (dynamic_cast<const DiskFullError*>(&e)) throw DiskFullError(what);
    throw Error(what);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  fsync_dir(tmp);
  if (!fs::exists(final_dir, ec)) {
    fs::rename(tmp, final_dir, ec);
    USEG_REQUIRE(!ec, "cannot write model folder " << final_dir.string() << ": " << ec.message());
  } else if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, final_dir.c_str(), RENAME_EXCHANGE) != 0) {
    // A file system without RENAME_EXCHANGE: move the old folder aside, then the new one in
    // (a kill between the two renames leaves the previous folder under the hidden name).
    int err = errno;
    USEG_REQUIRE(err == EINVAL || err == ENOSYS, "cannot swap in model folder "
                                                     << final_dir.string() << ": "
                                                     << std::strerror(err));
    fs::path old = temp_path_for(final_dir.string() + ".old");
    fs::remove_all(old, ec);
    fs::rename(final_dir, old, ec);
    USEG_REQUIRE(!ec, "cannot replace model folder " << final_dir.string() << ": " << ec.message());
    fs::rename(tmp, final_dir, ec);
    USEG_REQUIRE(!ec, "cannot replace model folder " << final_dir.string() << ": " << ec.message());
    tmp = old;
  }
  fsync_dir(parent);
  fs::remove_all(tmp, ec);  // now the previous folder
}

void remove_stale_temporaries(const std::string& run_dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(run_dir, ec)) {
    std::string n = e.path().filename().string();
    if (n.size() > 1 && n[0] == '.' && n.find(".tmp-") != std::string::npos)
      fs::remove_all(e.path(), ec);
  }
}

}  // namespace useg::training
