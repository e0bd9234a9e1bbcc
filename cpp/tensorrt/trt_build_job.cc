#include "trt_build_job.h"

#include <cstdio>
#include <cstring>
#include <memory>
#include <set>

#include "trt_calibrators.h"
#include "trt_library.h"
#include "trt_logger.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace trt_int8::trt {

namespace {

// A failed build: a stable code (an ErrorCode of src/core/errors.ts) and a message for people.
struct BuildFailure {
  std::string code;
  std::string message;
};

nvinfer1::Dims toDims(const std::vector<int64_t>& v) {
  nvinfer1::Dims d{};
  d.nbDims = static_cast<int32_t>(v.size());
  for (size_t i = 0; i < v.size() && i < static_cast<size_t>(nvinfer1::Dims::MAX_DIMS); ++i) d.d[i] = v[i];
  return d;
}

std::string dimsText(const nvinfer1::Dims& d) {
  std::string s = "[";
  for (int i = 0; i < d.nbDims; ++i) s += (i ? "," : "") + std::to_string(d.d[i]);
  return s + "]";
}

bool hasDynamicDim(const nvinfer1::Dims& d) {
  for (int i = 0; i < d.nbDims; ++i)
    if (d.d[i] < 0) return true;
  return false;
}

nvinfer1::ITensor* findInput(nvinfer1::INetworkDefinition& network, const std::string& name) {
  for (int i = 0; i < network.getNbInputs(); ++i) {
    nvinfer1::ITensor* t = network.getInput(i);
    if (t && name == t->getName()) return t;
  }
  return nullptr;
}

std::string inputNames(nvinfer1::INetworkDefinition& network) {
  std::string s;
  for (int i = 0; i < network.getNbInputs(); ++i) s += (i ? ", " : "") + std::string(network.getInput(i)->getName());
  return s;
}

#if TRT_INT8_IMPLICIT_QUANTIZATION
// The ONNX parser names a node's main layer after the node and helper layers "<node>_<n>" or
// "<node> [...]"; an exclusion names the node, so it covers all of them.
bool layerMatches(const std::string& layer, const std::string& wanted) {
  if (layer == wanted) return true;
  if (layer.size() <= wanted.size() || layer.compare(0, wanted.size(), wanted) != 0) return false;
  char next = layer[wanted.size()];
  return next == '_' || next == ' ' || next == '.' || next == '[' || next == ':';
}
#endif

void fillProfile(nvinfer1::IOptimizationProfile& profile, nvinfer1::INetworkDefinition& network, const std::string& name,
                 const ShapeRange& range, const char* what) {
  nvinfer1::ITensor* input = findInput(network, name);
  if (!input)
    throw BuildFailure{"ERR_BAD_OPTION", std::string(what) + " names input \"" + name +
                                             "\", which the network does not have (inputs: " + inputNames(network) + ")"};
  nvinfer1::Dims declared = input->getDimensions();
  if (declared.nbDims != static_cast<int32_t>(range.opt.size()))
    throw BuildFailure{"ERR_BAD_OPTION", std::string(what) + " gives input \"" + name + "\" " +
                                             std::to_string(range.opt.size()) + " dimensions, the network declares " +
                                             dimsText(declared)};
  using nvinfer1::OptProfileSelector;
  if (!profile.setDimensions(name.c_str(), OptProfileSelector::kMIN, toDims(range.min)) ||
      !profile.setDimensions(name.c_str(), OptProfileSelector::kOPT, toDims(range.opt)) ||
      !profile.setDimensions(name.c_str(), OptProfileSelector::kMAX, toDims(range.max)))
    throw BuildFailure{"ERR_BAD_OPTION", std::string(what) + ": TensorRT refused the shapes of input \"" + name +
                                             "\" (declared " + dimsText(declared) + ")"};
}

template <typename T>
struct Deleter {
  void operator()(T* p) const { delete p; }
};
template <typename T>
using Owned = std::unique_ptr<T, Deleter<T>>;

// What one build creates, in the order it is created: members are destroyed in reverse, so everything the config
// points at (monitor, timing cache, calibrator) outlives the config, and the network outlives its parser.
struct Build {
  Build(BuildJobState& job, TrtInt8BatchSource* source, ForwardingLogger& logger)
      : lib(*job.library), spec(job.spec), result(*job.result), source(source), logger(logger) {}

  const TrtLibrary& lib;
  const BuildSpec& spec;
  BuildResult& result;
  TrtInt8BatchSource* source;
  ForwardingLogger& logger;

  Owned<nvinfer1::IBuilder> builder;
  Owned<nvinfer1::INetworkDefinition> network;
  Owned<nvonnxparser::IParser> parser;
  std::unique_ptr<ForwardingProgressMonitor> monitor;
  Owned<nvinfer1::ITimingCache> timingCache;
#if TRT_INT8_IMPLICIT_QUANTIZATION
  CalibrationState calibration;
  std::unique_ptr<nvinfer1::IInt8Calibrator> calibrator;
#endif
  Owned<nvinfer1::IBuilderConfig> config;
  Owned<nvinfer1::IHostMemory> plan;
  bool dynamic = false;
};

void createBuilderAndNetwork(Build& b) {
  b.builder.reset(b.lib.newBuilder(b.logger));
  if (!b.builder) {
    std::string why = b.logger.lastErrors();
    if (why.empty()) why = "TensorRT logged no reason (is the CUDA driver usable?)";
    // Why TensorRT may not have found its builder resource, and the way out (trt_library.cc).
    for (const std::string& problem : b.lib.builderResourceProblems) why += "\n" + problem;
    throw BuildFailure{"ERR_BUILD_FAILED", "createInferBuilder failed: " + why};
  }
  // 10.x: weakly typed unless asked (kSTRONGLY_TYPED forbids kINT8/kFP16), so the builder may choose precisions.
  // 11.x: every network is strongly typed whatever the flags; the types (and Q/DQ scales) come from the ONNX model.
  nvinfer1::NetworkDefinitionCreationFlags flags = 0;
#if TRT_INT8_IMPLICIT_QUANTIZATION
  if (b.spec.stronglyTyped)
    flags |= 1U << static_cast<uint32_t>(nvinfer1::NetworkDefinitionCreationFlag::kSTRONGLY_TYPED);
#endif
  b.network.reset(b.builder->createNetworkV2(flags));
  if (!b.network) throw BuildFailure{"ERR_BUILD_FAILED", "createNetworkV2 failed: " + b.logger.lastErrors()};
}

std::string parserErrors(nvonnxparser::IParser& parser) {
  std::string errors;
  for (int i = 0; i < parser.getNbErrors() && i < 8; ++i) {
    const nvonnxparser::IParserError* e = parser.getError(i);
    std::string where = e->node() >= 0 ? "node " + std::to_string(e->node()) + " (" + e->nodeName() + ", " + e->nodeOperator() + "): " : "";
    errors += "\n  " + where + e->desc();
  }
  return errors;
}

void parseOnnx(Build& b) {
  if (!b.lib.createOnnxParser) throw BuildFailure{"ERR_TENSORRT_NOT_FOUND", "libnvonnxparser was not loaded"};
  b.parser.reset(b.lib.newParser(*b.network, b.logger));
  if (!b.parser) throw BuildFailure{"ERR_BUILD_FAILED", "createNvOnnxParser failed: " + b.logger.lastErrors()};
  const BuildSpec& spec = b.spec;
  if (!b.parser->parse(spec.onnx.data(), spec.onnx.size(), spec.onnxPath.empty() ? nullptr : spec.onnxPath.c_str()))
    throw BuildFailure{"ERR_BAD_MODEL", "TensorRT's ONNX parser rejected the model:" + parserErrors(*b.parser)};
  // Inputs are known only now: dynamic dimensions decide whether profiles are required.
  for (int i = 0; i < b.network->getNbInputs(); ++i) b.dynamic = b.dynamic || hasDynamicDim(b.network->getInput(i)->getDimensions());
  b.logger.flush();
}

// The progress monitor is how abort reaches the builder (stepComplete returns false), so it is installed unless
// the build runs bare (TRT_INT8_BUILD_INSTRUMENTATION=none, for measuring our own cost); it forwards events to JS
// only when onProgress listens.
void createConfig(Build& b) {
  const BuildSpec& spec = b.spec;
  b.config.reset(b.builder->createBuilderConfig());
  if (!b.config) throw BuildFailure{"ERR_BUILD_FAILED", "createBuilderConfig failed"};
  if (spec.workspaceBytes > 0)
    b.config->setMemoryPoolLimit(nvinfer1::MemoryPoolType::kWORKSPACE, static_cast<size_t>(spec.workspaceBytes));
  // Detailed layer information makes Engine.inspect() and layerPrecisions() useful; it costs nothing at run time.
  b.config->setProfilingVerbosity(nvinfer1::ProfilingVerbosity::kDETAILED);
  if (spec.builderOptimizationLevel >= 0) b.config->setBuilderOptimizationLevel(spec.builderOptimizationLevel);
  if (!spec.bare) {
    b.monitor = std::make_unique<ForwardingProgressMonitor>(b.logger, b.source, spec.forwardProgress);
    b.config->setProgressMonitor(b.monitor.get());
  }
}

// Optimization profiles: required when any input has a dynamic dimension.
void addProfiles(Build& b) {
  nvinfer1::INetworkDefinition& network = *b.network;
  for (size_t p = 0; p < b.spec.profiles.size(); ++p) {
    nvinfer1::IOptimizationProfile* profile = b.builder->createOptimizationProfile();
    std::string what = "profiles[" + std::to_string(p) + "]";
    for (const auto& [name, range] : b.spec.profiles[p]) fillProfile(*profile, network, name, range, what.c_str());
    if (b.config->addOptimizationProfile(profile) < 0)
      throw BuildFailure{"ERR_BAD_OPTION", what + " is incomplete or invalid: " + b.logger.lastErrors()};
  }
  if (!b.dynamic || !b.spec.profiles.empty()) return;
  std::string which;
  for (int i = 0; i < network.getNbInputs(); ++i) {
    nvinfer1::ITensor* t = network.getInput(i);
    if (hasDynamicDim(t->getDimensions())) which += std::string(which.empty() ? "" : ", ") + t->getName() + " " + dimsText(t->getDimensions());
  }
  throw BuildFailure{"ERR_BAD_OPTION", "the network has dynamic inputs (" + which + ") but no optimization profile was given"};
}

// Timing cache: start from the given bytes; the builder adds what it times, and we hand the merged cache back.
void attachTimingCache(Build& b) {
  if (!b.spec.useTimingCache) return;
  b.timingCache.reset(b.config->createTimingCache(b.spec.timingCache.data(), b.spec.timingCache.size()));
  if (!b.timingCache) throw BuildFailure{"ERR_CACHE_FORMAT", "TensorRT could not read the timing cache: " + b.logger.lastErrors()};
  if (!b.config->setTimingCache(*b.timingCache, false))
    throw BuildFailure{"ERR_CACHE_MISMATCH", "the timing cache was made for another device or TensorRT version: " + b.logger.lastErrors()};
}

#if TRT_INT8_IMPLICIT_QUANTIZATION
std::unique_ptr<nvinfer1::IInt8Calibrator> makeCalibrator(const BuildSpec& spec, CalibrationState& calibration) {
  switch (spec.calibrator) {
    case CalibratorKind::kEntropy2: return std::make_unique<EntropyCalibrator2>(calibration);
    case CalibratorKind::kEntropy: return std::make_unique<EntropyCalibrator>(calibration);
    case CalibratorKind::kMinMax: return std::make_unique<MinMaxCalibrator>(calibration);
    case CalibratorKind::kLegacy: return std::make_unique<LegacyCalibrator>(calibration, spec.legacyQuantile, spec.legacyRegressionCutoff);
    case CalibratorKind::kNone: break;  // a model with Q/DQ nodes needs none
  }
  return nullptr;
}

void configurePrecision(Build& b) {
  const BuildSpec& spec = b.spec;
  bool int8 = spec.precision == Precision::kINT8 || spec.precision == Precision::kBEST;
  if (spec.precision == Precision::kFP16 || spec.precision == Precision::kBEST) b.config->setFlag(nvinfer1::BuilderFlag::kFP16);
  if (!int8) return;
  b.config->setFlag(nvinfer1::BuilderFlag::kINT8);
  b.calibration.source = b.source;
  b.calibrator = makeCalibrator(spec, b.calibration);
  if (!b.calibrator) return;
  b.config->setInt8Calibrator(b.calibrator.get());
  bool afterFusionByDefault = spec.calibrator == CalibratorKind::kEntropy || spec.calibrator == CalibratorKind::kLegacy;
  if (afterFusionByDefault && spec.calibrateBeforeFusion)
    b.config->setQuantizationFlag(nvinfer1::QuantizationFlag::kCALIBRATE_BEFORE_FUSION);
  if (!b.dynamic) return;
  // Calibration runs at one fixed shape per input: the OPT shape JS chose (and validates every batch against).
  nvinfer1::IOptimizationProfile* calib = b.builder->createOptimizationProfile();
  for (const auto& [name, shape] : spec.calibrationProfile)
    fillProfile(*calib, *b.network, name, ShapeRange{shape, shape, shape}, "calibrationProfile");
  if (!b.config->setCalibrationProfile(calib))
    throw BuildFailure{"ERR_BAD_OPTION", "TensorRT refused the calibration profile: " + b.logger.lastErrors()};
}

// Keeps one layer in FP32: its computation, and those of its outputs that carry floating-point data.
void keepInFp32(nvinfer1::ILayer& layer) {
  layer.setPrecision(nvinfer1::DataType::kFLOAT);
  for (int o = 0; o < layer.getNbOutputs(); ++o) {
    nvinfer1::DataType t = layer.getOutput(o)->getType();
    if (t == nvinfer1::DataType::kFLOAT || t == nvinfer1::DataType::kHALF) layer.setOutputType(o, nvinfer1::DataType::kFLOAT);
  }
}

// Keeps the named layers (and their helper layers) in FP32. Only those layers carry a constraint, so the rest of
// the network stays free; "prefer" (setPrecisionConstraintFlag's default) lets TensorRT fall back with a warning
// where no FP32 kernel exists rather than failing the build.
void applyExclusions(Build& b) {
  const BuildSpec& spec = b.spec;
  if (spec.exclude.empty()) return;
  nvinfer1::INetworkDefinition& network = *b.network;
  std::set<std::string> unmatched(spec.exclude.begin(), spec.exclude.end());
  for (int i = 0; i < network.getNbLayers(); ++i) {
    nvinfer1::ILayer* layer = network.getLayer(i);
    std::string name = layer->getName();
    for (const auto& wanted : spec.exclude) {
      if (!layerMatches(name, wanted)) continue;
      unmatched.erase(wanted);
      keepInFp32(*layer);
      b.result.excludedLayers.push_back(name);
      break;
    }
  }
  if (!unmatched.empty()) {
    std::string names, sample;
    for (const auto& n : unmatched) names += (names.empty() ? "" : ", ") + n;
    for (int i = 0; i < network.getNbLayers() && i < 12; ++i) sample += (i ? ", " : "") + std::string(network.getLayer(i)->getName());
    throw BuildFailure{"ERR_BAD_OPTION", "exclude names no layer of the network: " + names + " (layers: " + sample + ", ...)"};
  }
}

nvinfer1::DataType dataTypeOf(Precision precision) {
  switch (precision) {
    case Precision::kINT8: return nvinfer1::DataType::kINT8;
    case Precision::kFP16: return nvinfer1::DataType::kHALF;
    default: return nvinfer1::DataType::kFLOAT;
  }
}

// "*" asks for every layer that computes on floating-point data: not constants (their weights are not requantized
// by a precision), not layers with an integer or boolean output (shapes, indices), which no float precision fits.
bool takesAnyPrecision(nvinfer1::ILayer& layer) {
  if (layer.getType() == nvinfer1::LayerType::kCONSTANT) return false;
  for (int o = 0; o < layer.getNbOutputs(); ++o) {
    nvinfer1::DataType t = layer.getOutput(o)->getType();
    if (t != nvinfer1::DataType::kFLOAT && t != nvinfer1::DataType::kHALF) return false;
  }
  return layer.getNbOutputs() > 0;
}

// Asks TensorRT for the precisions the user named (trtexec --layerPrecisions): by node name (and its helper
// layers), else "*". Runs before the exclusions, which then put their layers back in FP32.
void applyLayerPrecisions(Build& b) {
  const BuildSpec& spec = b.spec;
  if (spec.layerPrecisions.empty()) return;
  const Precision* everyLayer = nullptr;
  for (const auto& [name, precision] : spec.layerPrecisions)
    if (name == "*") everyLayer = &precision;
  nvinfer1::INetworkDefinition& network = *b.network;
  for (int i = 0; i < network.getNbLayers(); ++i) {
    nvinfer1::ILayer* layer = network.getLayer(i);
    std::string name = layer->getName();
    const Precision* wanted = nullptr;
    for (const auto& [node, precision] : spec.layerPrecisions)
      if (node != "*" && layerMatches(name, node)) { wanted = &precision; break; }
    if (!wanted && everyLayer && takesAnyPrecision(*layer)) wanted = everyLayer;
    if (wanted) layer->setPrecision(dataTypeOf(*wanted));
  }
}

// One flag for all constraints (layer precisions and exclusions): TensorRT reads the layers' precisions only then.
void setPrecisionConstraintFlag(Build& b) {
  if (b.spec.layerPrecisions.empty() && b.spec.exclude.empty()) return;
  b.config->setFlag(b.spec.obeyPrecisionConstraints ? nvinfer1::BuilderFlag::kOBEY_PRECISION_CONSTRAINTS
                                                   : nvinfer1::BuilderFlag::kPREFER_PRECISION_CONSTRAINTS);
}
#endif

void buildPlan(Build& b) {
  b.logger.flush();
  if (b.source->is_aborted(b.source->self)) throw BuildFailure{"ABORT_ERR", "aborted before the build started"};
  b.plan.reset(b.builder->buildSerializedNetwork(*b.network, *b.config));
  b.logger.flush();
}

// Which failure to report, most specific first: the calibrator's own, an abort, a calibration without data, and
// only then TensorRT's (a build that failed before asking for a batch failed for TensorRT's reasons).
void checkOutcome(Build& b) {
#if TRT_INT8_IMPLICIT_QUANTIZATION
  const CalibrationState& calibration = b.calibration;
  b.result.calibrationBatches = calibration.batchesServed;
  b.result.calibrationCacheUsed = calibration.cacheRead;
  // TensorRT ends calibration quietly when getBatch says "no more": a failed callback must still fail the build.
  if (calibration.failed) throw BuildFailure{"ERR_CALIBRATOR_CALLBACK", calibration.failure};
#endif
  if (b.source->is_aborted(b.source->self)) throw BuildFailure{"ABORT_ERR", "the build was aborted"};
#if TRT_INT8_IMPLICIT_QUANTIZATION
  if (b.calibrator && calibration.calibrationStarted && calibration.batchesServed == 0 && !calibration.cacheRead)
    throw BuildFailure{"ERR_EMPTY_DATASET", "the calibrator gave no batch and no calibration cache"};
#endif
  if (!b.plan || b.plan->size() == 0) {
    std::string why = b.logger.lastErrors();
    throw BuildFailure{"ERR_BUILD_FAILED", "TensorRT could not build the engine:\n" + (why.empty() ? "TensorRT logged no error" : why)};
  }
}

void collectResult(Build& b) {
  const auto* bytes = static_cast<const uint8_t*>(b.plan->data());
  b.result.plan.assign(bytes, bytes + b.plan->size());
  if (b.timingCache) {
    Owned<nvinfer1::IHostMemory> serialized(b.timingCache->serialize());
    if (serialized) {
      const auto* t = static_cast<const uint8_t*>(serialized->data());
      b.result.timingCache.assign(t, t + serialized->size());
    }
  }
  b.result.done = true;
}

void build(BuildJobState& job, TrtInt8BatchSource* source, ForwardingLogger& logger) {
  Build b(job, source, logger);
  createBuilderAndNetwork(b);
  parseOnnx(b);
  createConfig(b);
  addProfiles(b);
  attachTimingCache(b);
#if TRT_INT8_IMPLICIT_QUANTIZATION
  configurePrecision(b);
  applyLayerPrecisions(b);
  applyExclusions(b);
  setPrecisionConstraintFlag(b);
#endif
  buildPlan(b);
  checkOutcome(b);
  collectResult(b);
}

void writeError(char* error, size_t capacity, const std::string& text) {
  if (!error || capacity == 0) return;
  size_t n = text.size() < capacity - 1 ? text.size() : capacity - 1;
  std::memcpy(error, text.data(), n);
  error[n] = '\0';
}

// The bridge gets the message (its runError, for people); the result keeps code and message for takeBuildResult,
// which throws them as one coded JS error (cpp/core/native_error.h).
void recordFailure(BuildJobState& job, char* error, size_t capacity, const std::string& code, const std::string& message) {
  writeError(error, capacity, message);
  if (job.result) job.result->failure = {code, message};
}

}  // namespace

int runBuildJob(void* arg, TrtInt8BatchSource* source, char* error, size_t capacity) {
  auto* job = static_cast<BuildJobState*>(arg);
  ForwardingLogger logger(job->spec.maxLogSeverity, job->spec.logSeverityMask);
  logger.attach(source);
  int rc = 0;
  try {
    build(*job, source, logger);
  } catch (const BuildFailure& f) {
    recordFailure(*job, error, capacity, f.code, f.message);
    rc = 1;
  } catch (const std::exception& e) {
    recordFailure(*job, error, capacity, "ERR_BUILD_FAILED", e.what());
    rc = 1;
  } catch (...) {
    recordFailure(*job, error, capacity, "ERR_BUILD_FAILED", "unknown native error");
    rc = 1;
  }
  logger.flush();
  logger.attach(nullptr);
  return rc;
}

void destroyBuildJob(void* arg) { delete static_cast<BuildJobState*>(arg); }

}  // namespace trt_int8::trt

#pragma GCC diagnostic pop
