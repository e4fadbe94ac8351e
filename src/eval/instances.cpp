// Object-level scores of instance segmentations (cells, nuclei): the overlap of every predicted
// object with every reference object, then a one-to-one matching at an IoU threshold (the
// DSB 2018 / StarDist measure).
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <unordered_map>

#include "useg/error.h"
#include "useg/metrics.h"

namespace useg {

namespace {

// Index of every id in a sorted id list.
std::unordered_map<int, int> index_of(const std::vector<int>& ids) {
  std::unordered_map<int, int> m;
  for (size_t i = 0; i < ids.size(); ++i) m[ids[i]] = static_cast<int>(i);
  return m;
}

// Minimum-cost assignment of every row to a distinct column of a dense rows x cols matrix with
// rows <= cols (Hungarian algorithm with potentials, O(rows^2 cols)). Returns the column of
// every row.
std::vector<int> assign_rows(const std::vector<double>& cost, int rows, int cols) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> u(rows + 1, 0), v(cols + 1, 0);
  std::vector<int> p(cols + 1, 0), way(cols + 1, 0);
  for (int i = 1; i <= rows; ++i) {
    p[0] = i;
    int j0 = 0;
    std::vector<double> minv(cols + 1, inf);
    std::vector<char> used(cols + 1, 0);
    do {
      used[j0] = 1;
      const int i0 = p[j0];
      double delta = inf;
      int j1 = 0;
      for (int j = 1; j <= cols; ++j) {
        if (used[j]) continue;
        const double cur = cost[(i0 - 1) * cols + (j - 1)] - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (int j = 0; j <= cols; ++j) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (p[j0] != 0);
    do {
      const int j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0 != 0);
  }
  std::vector<int> col(rows, -1);
  for (int j = 1; j <= cols; ++j)
    if (p[j] > 0) col[p[j] - 1] = j - 1;
  return col;
}

int find_root(std::vector<int>& parent, int x) {
  while (parent[x] != x) x = parent[x] = parent[parent[x]];
  return x;
}

}  // namespace

InstanceOverlap instance_overlap(const Tensor& pred, const Tensor& ref) {
  USEG_REQUIRE(pred.defined() && ref.defined() && pred.numel() == ref.numel() &&
                   pred.device() == Device::CPU && ref.device() == Device::CPU,
               "instances: prediction " << pred.shape().str() << " and reference "
                                        << ref.shape().str() << " must be CPU tensors of one size");
  std::unordered_map<int, int64_t> psize, rsize;
  std::unordered_map<uint64_t, int64_t> inter;
  const float* p = pred.data();
  const float* r = ref.data();
  for (int64_t i = 0; i < pred.numel(); ++i) {
    const long a = std::lround(p[i]), b = std::lround(r[i]);
    USEG_REQUIRE(a >= 0 && b >= 0, "instances: negative object id at voxel " << i);
    if (a) psize[static_cast<int>(a)] += 1;
    if (b) rsize[static_cast<int>(b)] += 1;
    if (a && b) inter[(static_cast<uint64_t>(a) << 32) | static_cast<uint64_t>(b)] += 1;
  }
  InstanceOverlap o;
  for (const auto& [id, n] : psize) o.pred_ids.push_back(id);
  for (const auto& [id, n] : rsize) o.ref_ids.push_back(id);
  std::sort(o.pred_ids.begin(), o.pred_ids.end());
  std::sort(o.ref_ids.begin(), o.ref_ids.end());
  for (int id : o.pred_ids) o.pred_sizes.push_back(psize[id]);
  for (int id : o.ref_ids) o.ref_sizes.push_back(rsize[id]);
  const auto pi = index_of(o.pred_ids), ri = index_of(o.ref_ids);
  for (const auto& [key, n] : inter) {
    const int a = pi.at(static_cast<int>(key >> 32)),
              b = ri.at(static_cast<int>(key & 0xffffffffu));
    const double uni = static_cast<double>(o.pred_sizes[a] + o.ref_sizes[b] - n);
    o.pairs.push_back({a, b, n, static_cast<double>(n) / uni});
  }
  std::sort(o.pairs.begin(), o.pairs.end(), [](const auto& x, const auto& y) {
    return x.pred != y.pred ? x.pred < y.pred : x.ref < y.ref;
  });
  return o;
}

void add_instance_counts(InstanceScores& pooled, const InstanceScores& s) {
  pooled.n_ref += s.n_ref;
  pooled.n_pred += s.n_pred;
  pooled.tp += s.tp;
  pooled.sum_matched_iou += s.sum_matched_iou;
}

void finish_instance_scores(InstanceScores& s) {
  s.fp = s.n_pred - s.tp;
  s.fn = s.n_ref - s.tp;
  const bool none = s.n_pred == 0 && s.n_ref == 0;
  auto ratio = [none](double num, double den) { return none ? 1.0 : den == 0 ? 0.0 : num / den; };
  const double tp = static_cast<double>(s.tp), fp = static_cast<double>(s.fp),
               fn = static_cast<double>(s.fn);
  s.precision = ratio(tp, tp + fp);
  s.recall = ratio(tp, tp + fn);
  s.f1 = ratio(2 * tp, 2 * tp + fp + fn);
  s.accuracy = ratio(tp, tp + fp + fn);
  s.panoptic_quality = ratio(s.sum_matched_iou, tp + fp / 2 + fn / 2);
  s.mean_matched_iou = s.tp > 0 ? s.sum_matched_iou / tp : std::numeric_limits<double>::quiet_NaN();
}

InstanceScores match_instances(const InstanceOverlap& o, double threshold) {
  USEG_REQUIRE(threshold > 0 && threshold <= 1,
               "instances: IoU threshold " << threshold << " must lie in (0, 1]");
  InstanceScores s;
  s.threshold = threshold;
  s.n_pred = static_cast<int64_t>(o.pred_ids.size());
  s.n_ref = static_cast<int64_t>(o.ref_ids.size());
  const int np = static_cast<int>(o.pred_ids.size());
  std::vector<const InstanceOverlap::Pair*> cand;
  for (const auto& pr : o.pairs)
    if (pr.iou >= threshold) cand.push_back(&pr);

  // Connected components of the candidate graph (nodes: preds 0..np-1, refs np..): a component
  // with one edge is a match; larger ones (possible only for thresholds <= 0.5) are solved
  // exactly, maximizing the number of matches and then the summed IoU.
  std::vector<int> parent(np + o.ref_ids.size());
  std::iota(parent.begin(), parent.end(), 0);
  for (const auto* c : cand) parent[find_root(parent, c->pred)] = find_root(parent, np + c->ref);
  std::unordered_map<int, std::vector<const InstanceOverlap::Pair*>> comps;
  for (const auto* c : cand) comps[find_root(parent, c->pred)].push_back(c);
  std::vector<int> roots;
  for (const auto& [root, edges] : comps) roots.push_back(root);
  std::sort(roots.begin(), roots.end());

  std::vector<const InstanceOverlap::Pair*> matched;
  for (int root : roots) {
    const auto& edges = comps[root];
    if (edges.size() == 1) {
      matched.push_back(edges[0]);
      continue;
    }
    std::vector<int> rows, cols;  // pred and ref indices of this component
    for (const auto* e : edges) {
      rows.push_back(e->pred);
      cols.push_back(e->ref);
    }
    for (auto* v : {&rows, &cols}) {
      std::sort(v->begin(), v->end());
      v->erase(std::unique(v->begin(), v->end()), v->end());
    }
    const bool flip = rows.size() > cols.size();  // the solver wants rows <= cols
    const int nr = static_cast<int>(flip ? cols.size() : rows.size());
    const int nc = static_cast<int>(flip ? rows.size() : cols.size());
    const double bonus = 1.0 / (2.0 * nr + 1.0);  // IoU sum never outweighs one more match
    std::vector<double> cost(static_cast<size_t>(nr) * nc, 0.0);
    std::vector<const InstanceOverlap::Pair*> at(cost.size(), nullptr);
    for (const auto* e : edges) {
      int ra = static_cast<int>(std::lower_bound(rows.begin(), rows.end(), e->pred) - rows.begin());
      int cb = static_cast<int>(std::lower_bound(cols.begin(), cols.end(), e->ref) - cols.begin());
      if (flip) std::swap(ra, cb);
      cost[static_cast<size_t>(ra) * nc + cb] = -1.0 - bonus * e->iou;
      at[static_cast<size_t>(ra) * nc + cb] = e;
    }
    const std::vector<int> col = assign_rows(cost, nr, nc);
    for (int i = 0; i < nr; ++i)
      if (col[i] >= 0 && at[static_cast<size_t>(i) * nc + col[i]])
        matched.push_back(at[static_cast<size_t>(i) * nc + col[i]]);
  }
  std::sort(matched.begin(), matched.end(), [](const auto* x, const auto* y) {
    return x->pred != y->pred ? x->pred < y->pred : x->ref < y->ref;
  });
  for (const auto* m : matched) {
    s.tp += 1;
    s.sum_matched_iou += m->iou;
    s.matches.emplace_back(o.pred_ids[m->pred], o.ref_ids[m->ref]);
  }
  finish_instance_scores(s);
  return s;
}

std::vector<double> object_diameters(const Tensor& ids, const Geometry& g) {
  std::map<int64_t, int64_t> voxels;
  const float* p = ids.data();
  for (int64_t i = 0; i < ids.numel(); ++i)
    if (p[i] > 0) ++voxels[static_cast<int64_t>(p[i])];
  const double unit = g.voxel_volume(), pi = 3.14159265358979323846;
  std::vector<double> out;
  for (const auto& [id, n] : voxels) {
    const double size = double(n) * unit;
    out.push_back(g.dims == 2 ? 2 * std::sqrt(size / pi) : std::cbrt(6 * size / pi));
  }
  return out;
}


}  // namespace useg
