// `useg eval --classification`: predictions (useg classify's CSV) against reference classes
// (class folders or an image,label CSV): accuracy, balanced accuracy, per-class precision,
// recall, F1, one-vs-rest ROC AUC, the confusion matrix. Definitions as scikit-learn's
// (accuracy_score, balanced_accuracy_score, precision_recall_fscore_support with zero_division=0,
// roc_auc_score(multi_class="ovr", average="macro")). Formats: docs/eval.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace useg {

// useg classify's predictions: header image,class,probability,p_<class>... (one p_ column per
// class, in the model's order).
struct ClassPredictions {
  std::string source;
  std::vector<std::string> classes;
  std::vector<std::string> images;              // as written
  std::vector<int> predicted;                   // class index
  std::vector<std::vector<double>> probability; // [row][class]
};
// Throws naming the file and line when the header lacks image/class or p_ columns, a class is
// not one of the p_ columns, or a probability is not a number.
ClassPredictions read_class_predictions(const std::string& csv);

struct ClassMetrics {
  std::string name;
  int64_t support = 0;    // reference items of the class
  int64_t predicted = 0;  // items predicted as the class
  double precision = 0, recall = 0, f1 = 0;  // 0 where undefined (no prediction / no support)
  double auc = 0;         // one-vs-rest; NaN without both positives and negatives or scores
};

struct ClassificationReport {
  std::string pred_path, ref_path;
  std::vector<std::string> classes;
  std::vector<std::vector<int64_t>> confusion;  // [truth][predicted]
  int64_t n = 0;
  double accuracy = 0, balanced_accuracy = 0, macro_f1 = 0;
  double macro_auc = 0;  // the mean of the defined per-class AUCs (NaN if none is)
  std::vector<ClassMetrics> per_class;
  std::vector<std::string> missing_predictions;    // reference images without a prediction
  std::vector<std::string> unmatched_predictions;  // predictions of no reference image
};

// truth and predicted are class indices into `classes`; scores[i][k] the score of class k for
// item i (may be empty: no AUC).
ClassificationReport score_classification(const std::vector<std::string>& classes,
                                          const std::vector<int>& truth,
                                          const std::vector<int>& predicted,
                                          const std::vector<std::vector<double>>& scores);

// Area under the ROC curve of `score` for the items flagged positive: the Mann-Whitney statistic,
// ties counting one half. NaN without a positive or without a negative.
double roc_auc(const std::vector<double>& score, const std::vector<bool>& positive);

std::string format_classification_csv(const ClassificationReport& r);   // one row per class + macro
std::string format_classification_json(const ClassificationReport& r);
std::string format_classification_summary(const ClassificationReport& r);  // terminal table

}  // namespace useg
