// Training curves as a PNG drawn with cairo: two stacked panels sharing the epoch axis — training
// loss on top, validation Dice (0..1) below — each with axes, ticks, axis labels and a legend.
#pragma once

#include <string>
#include <vector>

namespace useg::plot {

struct Series {
  std::string name;
  std::vector<double> x, y;
};

// Renders the plot (PNG bytes). Empty series are drawn as "no data yet". When best_epoch > 0 a
// dashed line marks it in the Dice panel, labelled with best_dice.
std::string render_training_curves(const std::vector<Series>& loss,
                                   const std::vector<Series>& dice, const std::string& title,
                                   int best_epoch = 0, double best_dice = 0, int width = 960,
                                   int height = 720);
// Renders and writes atomically.
void write_training_curves(const std::string& path, const std::vector<Series>& loss,
                           const std::vector<Series>& dice, const std::string& title,
                           int best_epoch = 0, double best_dice = 0);

// Tick positions: about `target` "nice" values (1, 2, 2.5, 5 x 10^k steps) covering [lo, hi],
// with a step of at least `min_step` (1 for epochs).
std::vector<double> nice_ticks(double lo, double hi, int target = 6, double min_step = 0);

}  // namespace useg::plot
