// Streaming histograms of |x| with the binning of NVIDIA pytorch-quantization's HistogramCalibrator
// (torch_hist=True path). Pure C++: no N-API here, so the rules can be read and reasoned about alone.
// See docs/algorithms.md, "Histogram collection", for what we match and where we deliberately differ.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace trt_int8::stats {

// Running summary of the raw values of a tensor. Order independent, so merging per-chunk
// summaries in any order gives the same result as one sequential pass.
struct ValueSummary {
  float min = std::numeric_limits<float>::infinity();
  float max = -std::numeric_limits<float>::infinity();
  float absMax = 0.0f;
  uint64_t finite = 0;
  uint64_t nonFinite = 0;

  void merge(const ValueSummary& other);
};

ValueSummary summarize(const float* data, size_t length);

// numBins equal bins over [0, rangeMax]; numBins == 0 means "no range yet" (only zeros seen so far).
struct BinLayout {
  uint32_t numBins = 0;
  float binWidth = 0.0f;
  float rangeMax = 0.0f;

  bool hasRange() const { return numBins != 0; }
};

struct LayoutPlan {
  BinLayout layout;
  // The committed counts are merged 2^mergeShift bins into one before this batch's counts are added
  // (0: no re-binning; the bin width doubled mergeShift times).
  uint32_t mergeShift = 0;
};

// The layout a batch with max |x| = batchAbsMax is counted into: the first non-zero batch sets the
// range (binWidth = absMax / initialBins, in float32 as torch.linspace computes it); a later batch
// beyond the range appends bins of the same width while they fit in maxBins. When they would not, the
// bin width doubles (adjacent bins merge pairwise) as often as needed, so the histogram never fails to
// absorb a wider range and the result does not depend on which batch came first beyond one bin width.
LayoutPlan planLayout(const BinLayout& current, float batchAbsMax, uint32_t initialBins, uint32_t maxBins);

// counts merged 2^shift bins into one: bin i goes to bin i >> shift.
std::vector<uint64_t> mergeBins(const std::vector<uint64_t>& counts, uint32_t shift, size_t newBins);

// Adds |x| of the finite values into counts[0, layout.numBins). The bin index is torch.histc's CPU
// formula in float32: floor((|x| * numBins) / rangeMax), with |x| == rangeMax in the last bin.
// NaN and ±Inf are skipped (they are counted by summarize()).
template <typename Count>
void countInto(const float* data, size_t length, const BinLayout& layout, Count* counts);

// The kernels the collector runs: one pass over the values that both summarizes them and counts |x| into
// kSubHistograms interleaved histograms of layout.numBins + 1 uint32 bins each (the extra bin takes values outside
// [0, rangeMax] and non-finite ones). Same bin formula as countInto, evaluated on vectors (SSE2, or AVX2 where the
// CPU has it), so the counts are identical; the summary equals summarize()'s. `length` must be below 2^32.
// Interleaving keeps a run of equal values (the zeros after a ReLU) from serialising on one counter.
constexpr size_t kSubHistograms = 4;
size_t subHistogramSize(const BinLayout& layout);  // uint32 values: kSubHistograms * (numBins + 1)
ValueSummary summarizeAndCount(const float* data, size_t length, const BinLayout& layout, uint32_t* counts);
// summarize(), vectorized.
ValueSummary summarizeFast(const float* data, size_t length);
// staged[b] += the kSubHistograms partial counts of bin b (the out-of-range bin is dropped).
void addSubHistograms(const uint32_t* counts, const BinLayout& layout, uint64_t* staged);

struct TensorState {
  BinLayout layout;
  std::vector<uint64_t> counts;
  // Finite values seen while no range existed: they were all 0 and go to bin 0 once a range exists.
  uint64_t zerosWithoutRange = 0;
  ValueSummary summary;
};

// Applies one batch's counts (staged over `layout`, which planLayout derived from state.layout).
void commitBatch(TensorState& state, const LayoutPlan& plan, const std::vector<uint64_t>& staged,
                 const ValueSummary& batch);

}  // namespace trt_int8::stats
