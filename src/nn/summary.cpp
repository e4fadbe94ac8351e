// Analytic architecture summary (`useg info`): parameters, FLOPs per input voxel per stage and
// the receptive field, from the config alone (no weights needed).
#include <iomanip>
#include <sstream>

#include "useg/model.h"

namespace useg {

namespace {
int64_t prod(const std::array<int, 3>& k) { return int64_t(k[0]) * k[1] * k[2]; }
double vox_fraction(const std::array<int64_t, 3>& scale) {
  return 1.0 / double(scale[0] * scale[1] * scale[2]);
}

// Adds one conv+norm block's params/flops (per voxel at its resolution).
void add_conv(StageSummary& s, int cin, int cout, const std::array<int, 3>& k, double frac,
              bool norm) {
  int64_t p = int64_t(cin) * cout * prod(k) + cout;
  s.params += p + (norm ? 2 * cout : 0);
  s.flops_per_voxel += 2.0 * cin * cout * prod(k) * frac;
}
}  // namespace

ModelSummary summarize(const ModelConfig& c) {
  ModelSummary m;
  bool norm = c.norm != NormKind::None;
  std::array<int64_t, 3> scale{1, 1, 1};
  std::vector<std::array<int64_t, 3>> level_scale;
  for (int s = 0; s <= c.depth; ++s) {
    StageSummary st;
    st.name = s == c.depth ? "bottleneck" : "enc" + std::to_string(s);
    st.in_channels = s == 0 ? c.in_channels : c.filters(s - 1);
    st.out_channels = c.filters(s);
    st.kernel = c.kernel(s);
    st.scale = scale;
    for (int j = 0; j < c.convs_per_stage; ++j)
      add_conv(st, j == 0 ? st.in_channels : st.out_channels, st.out_channels, st.kernel,
               vox_fraction(scale), norm);
    if (c.residual && st.in_channels != st.out_channels)
      add_conv(st, st.in_channels, st.out_channels, {1, 1, 1}, vox_fraction(scale), false);
    level_scale.push_back(scale);
    m.stages.push_back(st);
    if (s < c.depth) {
      auto p = c.pool_size(s);
      for (int a = 0; a < 3; ++a) scale[a] *= p[a];
    }
  }
  for (int s = c.depth - 1; s >= 0; --s) {
    StageSummary st;
    st.name = "dec" + std::to_string(s);
    st.in_channels = c.filters(s + 1);
    st.out_channels = c.filters(s);
    st.kernel = c.kernel(s);
    st.scale = level_scale[s];
    double frac = vox_fraction(level_scale[s]);
    auto p = c.pool_size(s);
    // transposed conv: each input voxel (at the coarser level) produces prod(p) outputs
    st.params += int64_t(st.in_channels) * st.out_channels * prod(p) + st.out_channels;
    st.flops_per_voxel += 2.0 * st.in_channels * st.out_channels * frac;
    for (int j = 0; j < c.convs_per_stage; ++j)
      add_conv(st, j == 0 ? 2 * st.out_channels : st.out_channels, st.out_channels, st.kernel,
               frac, norm);
    if (c.residual) add_conv(st, 2 * st.out_channels, st.out_channels, {1, 1, 1}, frac, false);
    if (c.deep_supervision && s >= 1)  // ds head on decoder levels 1..depth-1
      add_conv(st, st.out_channels, c.num_classes, {1, 1, 1}, frac, false);
    m.stages.push_back(st);
  }
  StageSummary head;
  head.name = "head";
  head.in_channels = c.filters(0);
  head.out_channels = c.num_classes;
  add_conv(head, head.in_channels, head.out_channels, {1, 1, 1}, 1.0, false);
  m.stages.push_back(head);
  for (const auto& s : m.stages) {
    m.params += s.params;
    m.flops_per_voxel += s.flops_per_voxel;
  }
  // Receptive field along the deepest path: r += (k - 1) * jump per conv and pool; pooling
  // multiplies the jump; a transposed conv with kernel == stride divides it without growing r.
  for (int a = 0; a < 3; ++a) {
    int64_t r = 1, jump = 1;
    for (int s = 0; s <= c.depth; ++s) {
      r += int64_t(c.convs_per_stage) * (c.kernel(s)[a] - 1) * jump;
      if (s < c.depth) {
        int p = c.pool_size(s)[a];
        r += (p - 1) * jump;
        jump *= p;
      }
    }
    for (int s = c.depth - 1; s >= 0; --s) {
      jump /= c.pool_size(s)[a];
      r += int64_t(c.convs_per_stage) * (c.kernel(s)[a] - 1) * jump;
    }
    m.receptive_field[a] = r;
    int64_t mult = 1;
    for (int s = 0; s < c.depth; ++s) mult *= c.pool_size(s)[a];
    m.size_multiple[a] = mult;
  }
  return m;
}

std::string format_summary(const ModelConfig& c, const ModelSummary& m) {
  std::ostringstream os;
  os << "U-Net " << c.dims << "D: " << c.in_channels << " input channel(s), " << c.num_classes
     << " classes, depth " << c.depth << ", " << c.convs_per_stage << " conv(s) per stage, norm "
     << norm_name(c.norm) << ", " << activation_name(c.activation)
     << (c.residual ? ", residual" : "") << (c.deep_supervision ? ", deep supervision" : "")
     << (c.dropout > 0 ? ", dropout " + std::to_string(c.dropout) : "") << "\n";
  os << std::left << std::setw(12) << "stage" << std::setw(12) << "channels" << std::setw(10)
     << "kernel" << std::setw(12) << "scale" << std::right << std::setw(12) << "params"
     << std::setw(16) << "FLOP/voxel" << "\n";
  auto triple = [&](auto t) {
    std::ostringstream s;
    if (c.dims == 2)
      s << t[1] << "x" << t[2];
    else
      s << t[0] << "x" << t[1] << "x" << t[2];
    return s.str();
  };
  for (const auto& s : m.stages) {
    os << std::left << std::setw(12) << s.name << std::setw(12)
       << (std::to_string(s.in_channels) + "->" + std::to_string(s.out_channels))
       << std::setw(10) << triple(s.kernel) << std::setw(12) << ("1/" + triple(s.scale))
       << std::right << std::setw(12) << s.params << std::setw(16) << std::fixed
       << std::setprecision(0) << s.flops_per_voxel << "\n";
  }
  os << "parameters: " << m.params << "\n";
  os << "FLOPs per input voxel: " << std::setprecision(0) << m.flops_per_voxel << " ("
     << std::setprecision(2) << m.flops_per_voxel * 1e-9 * (c.dims == 2 ? 512.0 * 512 : 128.0 * 128 * 128)
     << " GFLOP for a " << (c.dims == 2 ? "512x512" : "128^3") << " input)\n";
  os << "receptive field: " << triple(m.receptive_field) << " voxels\n";
  os << "input size multiple: " << triple(m.size_multiple) << "\n";
  return os.str();
}

}  // namespace useg
