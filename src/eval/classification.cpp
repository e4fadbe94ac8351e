// Classification metrics (useg/class_eval.h): reading useg classify's CSV, the scores, reports.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iomanip>
#include <map>
#include <numeric>
#include <sstream>

#include "config/json_writer.h"
#include "core/files.h"
#include "eval/report_json.h"
#include "useg/class_eval.h"
#include "useg/error.h"
#include "util/csv.h"

namespace useg {

ClassPredictions read_class_predictions(const std::string& csv) {
  ClassPredictions p;
  p.source = csv;
  std::istringstream in(read_file(csv));
  std::string line;
  int n = 0, image_col = -1, class_col = -1;
  std::vector<int> prob_cols;
  std::map<std::string, int> index;
  while (std::getline(in, line)) {
    ++n;
    if (line.find_first_not_of(" \r") == std::string::npos) continue;
    const std::vector<std::string> f = csv_split(line);
    if (image_col < 0) {
      for (size_t i = 0; i < f.size(); ++i) {
        if (f[i] == "image") image_col = int(i);
        if (f[i] == "class") class_col = int(i);
        if (f[i].rfind("p_", 0) == 0) {
          index[f[i].substr(2)] = int(p.classes.size());
          p.classes.push_back(f[i].substr(2));
          prob_cols.push_back(int(i));
        }
      }
      USEG_REQUIRE(image_col >= 0 && class_col >= 0 && p.classes.size() >= 2,
                   csv << ": line 1 must be useg classify's header "
                          "image,class,probability,p_<class>"
                          "... (at least two p_ columns), got '"
                       << line << "'");
      continue;
    }
    const std::string where = csv + " line " + std::to_string(n);
    USEG_REQUIRE(
        f.size() > size_t(std::max(image_col, class_col)) && f.size() > size_t(prob_cols.back()),
        where << ": expected " << prob_cols.back() + 1 << " columns, got " << f.size());
    auto k = index.find(f[class_col]);
    USEG_REQUIRE(k != index.end(), where << ": class '" << f[class_col]
                                         << "' is not one of the p_ columns of the header");
    std::vector<double> prob;
    for (int c : prob_cols) {
      char* end = nullptr;
      const double v = std::strtod(f[c].c_str(), &end);
      USEG_REQUIRE(
          !f[c].empty() && end && *end == '\0' && std::isfinite(v),
          where << ": p_" << p.classes[prob.size()] << " is '" << f[c] << "', expected a number");
      prob.push_back(v);
    }
    p.images.push_back(f[image_col]);
    p.predicted.push_back(k->second);
    p.probability.push_back(std::move(prob));
  }
  USEG_REQUIRE(image_col >= 0, csv << ": empty file (expected useg classify's predictions CSV)");
  return p;
}

double roc_auc(const std::vector<double>& score, const std::vector<bool>& positive) {
  // Rank-sum form of the Mann-Whitney U: sort by score, tied scores share their mean rank.
  const size_t n = score.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t(0));
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score[a] < score[b]; });
  double rank_sum = 0;
  int64_t pos = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && score[order[j]] == score[order[i]]) ++j;
    const double mean_rank = 0.5 * double(i + 1 + j);  // ranks i+1 .. j
    for (size_t t = i; t < j; ++t)
      if (positive[order[t]]) rank_sum += mean_rank, ++pos;
    i = j;
  }
  const int64_t neg = int64_t(n) - pos;
  if (pos == 0 || neg == 0) return std::nan("");
  return (rank_sum - 0.5 * double(pos) * double(pos + 1)) / (double(pos) * double(neg));
}

ClassificationReport score_classification(const std::vector<std::string>& classes,
                                          const std::vector<int>& truth,
                                          const std::vector<int>& predicted,
                                          const std::vector<std::vector<double>>& scores) {
  const size_t K = classes.size();
  USEG_REQUIRE(
      truth.size() == predicted.size() && (scores.empty() || scores.size() == truth.size()),
      "score_classification: " << truth.size() << " truths, " << predicted.size()
                               << " predictions, " << scores.size() << " score rows");
  ClassificationReport r;
  r.classes = classes;
  r.n = int64_t(truth.size());
  r.confusion.assign(K, std::vector<int64_t>(K, 0));
  int64_t correct = 0;
  for (size_t i = 0; i < truth.size(); ++i) {
    USEG_REQUIRE(
        truth[i] >= 0 && size_t(truth[i]) < K && predicted[i] >= 0 && size_t(predicted[i]) < K,
        "score_classification: class index out of range at item " << i);
    ++r.confusion[size_t(truth[i])][size_t(predicted[i])];
    correct += truth[i] == predicted[i];
  }
  r.accuracy = r.n ? double(correct) / double(r.n) : std::nan("");
  double recall_sum = 0, f1_sum = 0, auc_sum = 0;
  int present = 0, aucs = 0;
  for (size_t k = 0; k < K; ++k) {
    ClassMetrics m;
    m.name = classes[k];
    const int64_t tp = r.confusion[k][k];
    for (size_t j = 0; j < K; ++j) m.support += r.confusion[k][j], m.predicted += r.confusion[j][k];
    m.precision = m.predicted ? double(tp) / double(m.predicted) : 0.0;
    m.recall = m.support ? double(tp) / double(m.support) : 0.0;
    m.f1 = m.precision + m.recall > 0 ? 2 * m.precision * m.recall / (m.precision + m.recall) : 0.0;
    m.auc = std::nan("");
    if (!scores.empty()) {
      std::vector<double> s(truth.size());
      std::vector<bool> positive(truth.size());
      for (size_t i = 0; i < truth.size(); ++i)
        s[i] = scores[i][k], positive[i] = truth[i] == int(k);
      m.auc = roc_auc(s, positive);
    }
    if (m.support) recall_sum += m.recall, ++present;
    f1_sum += m.f1;
    if (std::isfinite(m.auc)) auc_sum += m.auc, ++aucs;
    r.per_class.push_back(m);
  }
  r.balanced_accuracy = present ? recall_sum / present : std::nan("");
  r.macro_f1 = K ? f1_sum / double(K) : std::nan("");
  r.macro_auc = aucs ? auc_sum / aucs : std::nan("");
  return r;
}

std::string format_classification_csv(const ClassificationReport& r) {
  std::ostringstream os;
  os << "class,support,predicted,precision,recall,f1,auc";
  for (const std::string& c : r.classes) os << ",predicted_" << csv_field(c);
  os << "\n";
  for (size_t k = 0; k < r.per_class.size(); ++k) {
    const ClassMetrics& m = r.per_class[k];
    os << csv_field(m.name) << "," << m.support << "," << m.predicted << ","
       << csv_number(m.precision) << "," << csv_number(m.recall) << "," << csv_number(m.f1) << ","
       << csv_number(m.auc);
    for (int64_t v : r.confusion[k]) os << "," << v;
    os << "\n";
  }
  double mp = 0, mr = 0;
  for (const ClassMetrics& m : r.per_class) mp += m.precision, mr += m.recall;
  const double K = double(std::max<size_t>(1, r.per_class.size()));
  os << "macro," << r.n << "," << r.n << "," << csv_number(mp / K) << "," << csv_number(mr / K)
     << "," << csv_number(r.macro_f1) << "," << csv_number(r.macro_auc);
  for (size_t k = 0; k < r.classes.size(); ++k) os << ",";
  os << "\n";
  return os.str();
}

JsonValue classification_report_json(const ClassificationReport& r) {
  auto number = [](double v) { return JsonValue::number(v, 10); };
  JsonValue per_class = JsonValue::array();
  for (const ClassMetrics& m : r.per_class)
    per_class.push_back(JsonValue::object()
                            .set("class", m.name)
                            .set("support", m.support)
                            .set("predicted", m.predicted)
                            .set("precision", number(m.precision))
                            .set("recall", number(m.recall))
                            .set("f1", number(m.f1))
                            .set("auc", number(m.auc)));
  JsonValue confusion = JsonValue::array();
  for (const auto& row : r.confusion) confusion.push_back(JsonValue(row));
  JsonValue j = JsonValue::object();
  j.set("format", "useg-eval-classification-1")
      .set("prediction", r.pred_path)
      .set("reference", r.ref_path)
      .set("classes", r.classes)
      .set("n", r.n)
      .set("accuracy", number(r.accuracy))
      .set("balanced_accuracy", number(r.balanced_accuracy))
      .set("macro_f1", number(r.macro_f1))
      .set("macro_auc", number(r.macro_auc))
      .set("per_class", std::move(per_class))
      .set("confusion", std::move(confusion))
      .set("missing_predictions", r.missing_predictions)
      .set("unmatched_predictions", r.unmatched_predictions);
  return j;
}

std::string format_classification_json(const ClassificationReport& r) {
  return classification_report_json(r).dump();
}

std::string format_classification_summary(const ClassificationReport& r) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(4);
  os << "accuracy " << r.accuracy << ", balanced accuracy " << r.balanced_accuracy
     << ", macro F1 " << r.macro_f1 << ", macro AUC " << r.macro_auc << " (" << r.n
     << " images)\n";
  size_t w = 5;
  for (const std::string& c : r.classes) w = std::max(w, c.size());
  os << std::left << std::setw(int(w)) << "class" << std::right << "  support  precision  recall"
     << "      F1     AUC\n";
  for (const ClassMetrics& m : r.per_class)
    os << std::left << std::setw(int(w)) << m.name << std::right << std::setw(9) << m.support
       << std::setw(11) << m.precision << std::setw(8) << m.recall << std::setw(8) << m.f1
       << std::setw(8) << m.auc << "\n";
  os << "confusion (rows: reference, columns: predicted)\n";
  for (size_t k = 0; k < r.confusion.size(); ++k) {
    os << std::left << std::setw(int(w)) << r.classes[k] << std::right;
    for (int64_t v : r.confusion[k]) os << std::setw(7) << v;
    os << "\n";
  }
  return os.str();
}

}  // namespace useg
