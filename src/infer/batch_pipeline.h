// The read -> compute -> write pipeline of `useg segment` (private to src/infer): three threads
// overlap the cases (docs/segment.md, "Batch behaviour"):
//   - a reader reads the next case and checks it (never more than one case ahead),
//   - the compute loop (the calling thread) segments it on the backend,
//   - a writer writes its outputs (and measures and draws) while the next case is computed.
// With --save-probabilities the compute loop waits for the writer before each case, so saved
// probabilities never coexist with the next case's accumulators. A case that fails at any
// stage is finished as failed and the batch goes on; once a write has found the disk full, the
// cases not yet segmented fail with that reason.
#pragma once

#include <vector>

#include "infer/batch_plan.h"
#include "infer/report_sink.h"

namespace useg::batch {

// Runs every case of `cases` and finishes each through `sink` (done or failed). Returns when
// the last case is written.
void run_pipeline(const std::vector<PlannedCase>& cases, const BatchOptions& o,
                  const std::vector<ModelGroup>& groups, ReportSink& sink, Progress& progress);

}  // namespace useg::batch
