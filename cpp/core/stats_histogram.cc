#include "stats_histogram.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace trt_int8::stats {

void ValueSummary::merge(const ValueSummary& other) {
  min = std::min(min, other.min);
  max = std::max(max, other.max);
  absMax = std::max(absMax, other.absMax);
  finite += other.finite;
  nonFinite += other.nonFinite;
}

// The summary of a pass that found min lo, max hi and nonFinite non-finite values among length values.
static ValueSummary finishSummary(float lo, float hi, uint64_t nonFinite, size_t length) {
  ValueSummary s;
  s.min = lo;
  s.max = hi;
  s.nonFinite = nonFinite;
  s.finite = static_cast<uint64_t>(length) - nonFinite;
  s.absMax = s.finite == 0 ? 0.0f : std::max(std::fabs(lo), std::fabs(hi));
  return s;
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
  return finishSummary(lo, hi, nonFinite, length);
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

// ---- vectorized kernels -------------------------------------------------------------------------------------

namespace {


// The scalar tail, with summarize()'s and countInto()'s rules.
void scalarTail(const float* data, size_t begin, size_t end, const BinLayout* layout, uint32_t* counts, float& lo, float& hi, uint64_t& nonFinite) {
  for (size_t i = begin; i < end; ++i) {
    const float v = data[i];
    if (!std::isfinite(v)) {
      ++nonFinite;
    } else {
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
    }
    if (layout) {
      const float a = std::fabs(v);
      const float scale = static_cast<float>(layout->numBins);
      if (!(a <= layout->rangeMax)) {
        ++counts[layout->numBins];
      } else {
        const float pos = (a * scale) / layout->rangeMax;
        ++counts[pos < scale ? static_cast<uint32_t>(pos) : layout->numBins - 1];
      }
    }
  }
}

#if defined(__GNUC__) || defined(__clang__)
// The AVX2 instantiation passes 32-byte vectors between always-inlined helpers only; GCC still notes the ABI.
#pragma GCC diagnostic ignored "-Wpsabi"

// Lanes of W floats / int32 (GCC and clang vector extensions: SSE2 or AVX2 on x86-64, NEON on arm64).
template <int W>
struct Lanes {
  typedef float F __attribute__((vector_size(W * 4)));
  typedef int32_t I __attribute__((vector_size(W * 4)));
};

template <int W>
inline __attribute__((always_inline)) typename Lanes<W>::F splat(float x) {
  typename Lanes<W>::F v;
  for (int l = 0; l < W; ++l) v[l] = x;
  return v;
}
template <int W>
inline __attribute__((always_inline)) typename Lanes<W>::I splatI(int32_t x) {
  typename Lanes<W>::I v;
  for (int l = 0; l < W; ++l) v[l] = x;
  return v;
}

// One pass: min, max (finite values only) and the non-finite count, and, when `layout` is set, each value's bin.
// Bin of |x|: torch.histc's float32 formula floor((|x| * numBins) / rangeMax), the last bin for |x| == rangeMax,
// bin numBins (out of range) for |x| > rangeMax and non-finite values.
template <int W>
inline __attribute__((always_inline)) ValueSummary kernel(const float* data, size_t length, const BinLayout* layout, uint32_t* counts) {
  using F = typename Lanes<W>::F;
  using I = typename Lanes<W>::I;
  constexpr float kInf = std::numeric_limits<float>::infinity();
  const float scale = layout ? static_cast<float>(layout->numBins) : 1.0f;
  const float range = layout ? layout->rangeMax : 1.0f;
  const size_t stride = layout ? size_t{layout->numBins} + 1 : 0;
  const F vScale = splat<W>(scale), vRange = splat<W>(range), vFltMax = splat<W>(std::numeric_limits<float>::max());
  const I vAbsMask = splatI<W>(0x7fffffff), vInf = splatI<W>(0x7f800000), vNegInf = splatI<W>(static_cast<int32_t>(0xff800000u));
  const I vLast = splatI<W>(static_cast<int32_t>(layout ? layout->numBins - 1 : 0)), vOut = splatI<W>(static_cast<int32_t>(layout ? layout->numBins : 0));
  F lo = splat<W>(kInf), hi = splat<W>(-kInf);
  I nonFinite = splatI<W>(0);
  constexpr size_t kBlock = 512;  // bins of one block, then scattered (a multiple of W and of kSubHistograms)
  alignas(64) int32_t bins[kBlock];
  uint64_t nonFiniteTotal = 0;
  size_t i = 0;
  for (; i + kBlock <= length; i += kBlock) {
    for (size_t k = 0; k < kBlock; k += W) {
      F v;
      std::memcpy(&v, data + i + k, sizeof v);
      const F a = reinterpret_cast<F>(reinterpret_cast<I>(v) & vAbsMask);
      const I finite = a <= vFltMax;  // all ones where finite (NaN compares false)
      const F forMin = reinterpret_cast<F>((reinterpret_cast<I>(v) & finite) | (vInf & ~finite));
      const F forMax = reinterpret_cast<F>((reinterpret_cast<I>(v) & finite) | (vNegInf & ~finite));
      const I less = forMin < lo;
      lo = reinterpret_cast<F>((reinterpret_cast<I>(forMin) & less) | (reinterpret_cast<I>(lo) & ~less));
      const I greater = forMax > hi;
      hi = reinterpret_cast<F>((reinterpret_cast<I>(forMax) & greater) | (reinterpret_cast<I>(hi) & ~greater));
      nonFinite -= ~finite;
      if (layout) {
        const I in = a <= vRange;
        const F pos = reinterpret_cast<F>(reinterpret_cast<I>((a * vScale) / vRange) & in);
        const I below = pos < vScale;
        I bin = __builtin_convertvector(pos, I);
        bin = (bin & below) | (vLast & ~below);
        bin = (bin & in) | (vOut & ~in);
        std::memcpy(bins + k, &bin, sizeof bin);
      }
    }
    if (layout) {
      for (size_t k = 0; k < kBlock; k += kSubHistograms) {
        ++counts[bins[k]];
        ++counts[stride + bins[k + 1]];
        ++counts[2 * stride + bins[k + 2]];
        ++counts[3 * stride + bins[k + 3]];
      }
    }
    if ((i / kBlock) % 4096 == 4095) {  // int32 lanes: flush before 2^31 non-finite values per lane could pile up
      for (int l = 0; l < W; ++l) nonFiniteTotal += static_cast<uint32_t>(nonFinite[l]);
      nonFinite = splatI<W>(0);
    }
  }
  float minValue = kInf, maxValue = -kInf;
  for (int l = 0; l < W; ++l) {
    minValue = lo[l] < minValue ? lo[l] : minValue;
    maxValue = hi[l] > maxValue ? hi[l] : maxValue;
    nonFiniteTotal += static_cast<uint32_t>(nonFinite[l]);
  }
  scalarTail(data, i, length, layout, counts, minValue, maxValue, nonFiniteTotal);
  return finishSummary(minValue, maxValue, nonFiniteTotal, length);
}

// min and max of data[0, *done) on U independent accumulators (min/max have a latency of several cycles: one chain
// would leave the vector units idle), and whether every one of those values is finite; *done is the length rounded
// down to U * W values. NaN never wins a comparison, so it is skipped; ±Infinity would win, which is why a pass that
// met any non-finite value is redone by kernel(), which excludes them (activations rarely have any).
template <int W>
inline __attribute__((always_inline)) bool minMaxIfFinite(const float* data, size_t length, float& lo, float& hi, size_t& done) {
  using F = typename Lanes<W>::F;
  using I = typename Lanes<W>::I;
  constexpr int U = 4;
  constexpr float kInf = std::numeric_limits<float>::infinity();
  const F vFltMax = splat<W>(std::numeric_limits<float>::max());
  const I vAbsMask = splatI<W>(0x7fffffff);
  F low[U], high[U];
  for (int u = 0; u < U; ++u) {
    low[u] = splat<W>(kInf);
    high[u] = splat<W>(-kInf);
  }
  I nonFinite = splatI<W>(0);
  size_t i = 0;
  for (; i + U * W <= length; i += U * W) {
    for (int u = 0; u < U; ++u) {
      F v;
      std::memcpy(&v, data + i + u * W, sizeof v);
      low[u] = v < low[u] ? v : low[u];
      high[u] = v > high[u] ? v : high[u];
      nonFinite |= ~(reinterpret_cast<F>(reinterpret_cast<I>(v) & vAbsMask) <= vFltMax);
    }
  }
  for (int u = 1; u < U; ++u) {
    low[0] = low[u] < low[0] ? low[u] : low[0];
    high[0] = high[u] > high[0] ? high[u] : high[0];
  }
  bool finite = true;
  for (int l = 0; l < W; ++l) {
    finite = finite && nonFinite[l] == 0;
    lo = low[0][l] < lo ? low[0][l] : lo;
    hi = high[0][l] > hi ? high[0][l] : hi;
  }
  done = i;
  return finite;
}

// summarize() of values that are all finite in one quick pass (about 1.5x faster than kernel() on values out of cache,
// 4x in cache); the same summary through kernel() otherwise.
template <int W>
inline __attribute__((always_inline)) ValueSummary summaryKernel(const float* data, size_t length) {
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  size_t done = 0;
  if (!minMaxIfFinite<W>(data, length, lo, hi, done)) return kernel<W>(data, length, nullptr, nullptr);
  uint64_t nonFinite = 0;
  scalarTail(data, done, length, nullptr, nullptr, lo, hi, nonFinite);
  return finishSummary(lo, hi, nonFinite, length);
}

ValueSummary kernelDefault(const float* data, size_t length, const BinLayout* layout, uint32_t* counts) {
  return layout ? kernel<4>(data, length, layout, counts) : summaryKernel<4>(data, length);
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2"))) ValueSummary kernelAvx2(const float* data, size_t length, const BinLayout* layout, uint32_t* counts) {
  return layout ? kernel<8>(data, length, layout, counts) : summaryKernel<8>(data, length);
}
const bool kHasAvx2 = [] {
  __builtin_cpu_init();  // this may run in a static initializer, before libgcc's own CPU detection
  return __builtin_cpu_supports("avx2") != 0;
}();
#endif

ValueSummary runKernel(const float* data, size_t length, const BinLayout* layout, uint32_t* counts) {
#if defined(__x86_64__) || defined(__i386__)
  if (kHasAvx2) return kernelAvx2(data, length, layout, counts);
#endif
  return kernelDefault(data, length, layout, counts);
}
#else
ValueSummary runKernel(const float* data, size_t length, const BinLayout* layout, uint32_t* counts) {
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  uint64_t nonFinite = 0;
  scalarTail(data, 0, length, layout, counts, lo, hi, nonFinite);
  return finishSummary(lo, hi, nonFinite, length);
}
#endif

}  // namespace

size_t subHistogramSize(const BinLayout& layout) { return kSubHistograms * (size_t{layout.numBins} + 1); }

ValueSummary summarizeAndCount(const float* data, size_t length, const BinLayout& layout, uint32_t* counts) {
  return runKernel(data, length, &layout, counts);
}

ValueSummary summarizeFast(const float* data, size_t length) { return runKernel(data, length, nullptr, nullptr); }

void addSubHistograms(const uint32_t* counts, const BinLayout& layout, uint64_t* staged) {
  const size_t stride = size_t{layout.numBins} + 1;
  for (size_t b = 0; b < layout.numBins; ++b) {
    uint64_t total = 0;
    for (size_t h = 0; h < kSubHistograms; ++h) total += counts[h * stride + b];
    staged[b] += total;
  }
}

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
