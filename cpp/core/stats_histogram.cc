#include "stats_histogram.h"

#include <algorithm>
#include <cmath>

namespace trt_int8::stats {

void ValueSummary::merge(const ValueSummary& other) {
  min = std::min(min, other.min);
  max = std::max(max, other.max);
  absMax = std::max(absMax, other.absMax);
  finite += other.finite;
  nonFinite += other.nonFinite;
}

ValueSummary summarize(const float* data, size_t length) {
  ValueSummary s;
  float lo = s.min, hi = s.max;
  uint64_t nonFinite = 0;
  for (size_t i = 0; i < length; ++i) {
    const float v = data[i];
    if (!std::isfinite(v)) {
      ++nonFinite;
      continue;
    }
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
  }
  s.min = lo;
  s.max = hi;
  s.nonFinite = nonFinite;
  s.finite = static_cast<uint64_t>(length) - nonFinite;
  s.absMax = s.finite == 0 ? 0.0f : std::max(std::fabs(lo), std::fabs(hi));
  return s;
}

// Bins of `width` that cover batchAbsMax: pytorch-quantization's num_bins = ceil(x_max / width), with
// edges = arange(0, x_max + width, width) whose last edge is computed in double and stored as float.
// Unlike pytorch-quantization, never let float rounding leave the batch maximum outside the range
// (histc would silently drop it). Gives up (returns limit + 1) past `limit` bins.
static double binsCovering(float width, float batchAbsMax, double limit) {
  double bins = std::ceil(static_cast<double>(batchAbsMax / width));
  while (bins <= limit && static_cast<float>(static_cast<double>(width) * bins) < batchAbsMax) bins += 1;
  return bins <= limit ? bins : limit + 1;
}

static LayoutPlan grownLayout(const BinLayout& current, float batchAbsMax, uint32_t maxBins) {
  LayoutPlan plan;
  float width = current.binWidth;
  double limit = static_cast<double>(maxBins);
  double bins = binsCovering(width, batchAbsMax, limit);
  // Too many bins: double the width (merging bins pairwise) until the wider range fits. The merged
  // histogram must also hold every committed bin, so ceil(current.numBins / 2^shift) bins at least.
  while (bins > limit) {
    width *= 2.0f;  // exact in float32 (a power of two); finite, as width <= batchAbsMax / maxBins * 2 here
    plan.mergeShift += 1;
    bins = binsCovering(width, batchAbsMax, limit);
  }
  const double kept = std::ceil(static_cast<double>(current.numBins) / std::ldexp(1.0, static_cast<int>(plan.mergeShift)));
  bins = std::max(bins, kept);
  plan.layout.numBins = static_cast<uint32_t>(bins);
  plan.layout.binWidth = width;
  plan.layout.rangeMax = static_cast<float>(static_cast<double>(width) * bins);
  return plan;
}

std::vector<uint64_t> mergeBins(const std::vector<uint64_t>& counts, uint32_t shift, size_t newBins) {
  std::vector<uint64_t> merged(newBins, 0);
  for (size_t i = 0; i < counts.size(); ++i) {
    const size_t to = shift >= 64 ? 0 : (i >> shift);
    merged[std::min(to, newBins - 1)] += counts[i];
  }
  return merged;
}

LayoutPlan planLayout(const BinLayout& current, float batchAbsMax, uint32_t initialBins, uint32_t maxBins) {
  LayoutPlan plan;
  plan.layout = current;
  if (!(batchAbsMax > 0.0f)) return plan;  // all zeros (or nothing finite): the range is unchanged
  if (!current.hasRange()) {
    // torch.linspace(0, x_max, num_bins + 1): step = (end - start) / (steps - 1) in float32.
    const float width = batchAbsMax / static_cast<float>(initialBins);
    plan.layout.numBins = initialBins;
    if (width > 0.0f) {
      plan.layout.binWidth = width;
      plan.layout.rangeMax = batchAbsMax;
    } else {  // a subnormal max underflows the width: use the smallest float instead of a zero width
      plan.layout.binWidth = std::numeric_limits<float>::denorm_min();
      plan.layout.rangeMax = plan.layout.binWidth * static_cast<float>(initialBins);
    }
    return plan;
  }
  if (batchAbsMax <= current.rangeMax) return plan;
  return grownLayout(current, batchAbsMax, maxBins);
}

template <typename Count>
void countInto(const float* data, size_t length, const BinLayout& layout, Count* counts) {
  const float range = layout.rangeMax;
  const float scale = static_cast<float>(layout.numBins);
  const uint32_t last = layout.numBins - 1;
  for (size_t i = 0; i < length; ++i) {
    const float a = std::fabs(data[i]);
    if (!(a <= range)) continue;  // NaN, ±Inf (the range always covers every finite value)
    const float pos = (a * scale) / range;
    const uint32_t bin = pos < scale ? static_cast<uint32_t>(pos) : last;
    ++counts[bin];
  }
}

template void countInto<uint32_t>(const float*, size_t, const BinLayout&, uint32_t*);
template void countInto<uint64_t>(const float*, size_t, const BinLayout&, uint64_t*);

void commitBatch(TensorState& state, const LayoutPlan& plan, const std::vector<uint64_t>& staged,
                 const ValueSummary& batch) {
  const BinLayout& layout = plan.layout;
  state.summary.merge(batch);
  if (!layout.hasRange()) {
    state.zerosWithoutRange += batch.finite;
    return;
  }
  if (!state.layout.hasRange()) {
    state.counts.assign(layout.numBins, 0);
    state.counts[0] += state.zerosWithoutRange;
    state.zerosWithoutRange = 0;
  } else if (plan.mergeShift > 0) {
    state.counts = mergeBins(state.counts, plan.mergeShift, layout.numBins);  // wider bins, same totals
  } else if (layout.numBins > state.counts.size()) {
    state.counts.resize(layout.numBins, 0);  // appended bins of the same width
  }
  state.layout = layout;
  const size_t n = std::min(staged.size(), state.counts.size());
  for (size_t i = 0; i < n; ++i) state.counts[i] += staged[i];
}

}  // namespace trt_int8::stats
