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

// A failed build: the message starts with a stable code that src/tensorrt maps to a TrtInt8Error.
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

void build(BuildJobState& job, TrtInt8BatchSource* source, ForwardingLogger& logger) {
  const TrtLibrary& lib = *job.library;
  const BuildSpec& spec = job.spec;
  BuildResult& result = *job.result;

  Owned<nvinfer1::IBuilder> builder(lib.newBuilder(logger));
  if (!builder) {
    std::string why = logger.lastErrors();
    throw BuildFailure{"ERR_BUILD_FAILED", "createInferBuilder failed: " +
                                               (why.empty() ? "TensorRT logged no reason (is the CUDA driver usable?)" : why)};
  }

#if TRT_INT8_IMPLICIT_QUANTIZATION
  // kSTRONGLY_TYPED would forbid kINT8; 10.x networks are weakly typed so the builder may choose precisions.
  nvinfer1::NetworkDefinitionCreationFlags flags = 0;
#else
  // 11.x: every network is strongly typed; the types (and Q/DQ scales) come from the ONNX model.
  nvinfer1::NetworkDefinitionCreationFlags flags = 0;
#endif
  Owned<nvinfer1::INetworkDefinition> network(builder->createNetworkV2(flags));
  if (!network) throw BuildFailure{"ERR_BUILD_FAILED", "createNetworkV2 failed: " + logger.lastErrors()};

  if (!lib.createOnnxParser) throw BuildFailure{"ERR_TENSORRT_NOT_FOUND", "libnvonnxparser was not loaded"};
  Owned<nvonnxparser::IParser> parser(lib.newParser(*network, logger));
  if (!parser) throw BuildFailure{"ERR_BUILD_FAILED", "createNvOnnxParser failed: " + logger.lastErrors()};
  if (!parser->parse(spec.onnx.data(), spec.onnx.size(), spec.onnxPath.empty() ? nullptr : spec.onnxPath.c_str())) {
    std::string errors;
    for (int i = 0; i < parser->getNbErrors() && i < 8; ++i) {
      const nvonnxparser::IParserError* e = parser->getError(i);
      errors += std::string("\n  ") + (e->node() >= 0 ? "node " + std::to_string(e->node()) + " (" + e->nodeName() + ", " +
                                                          e->nodeOperator() + "): "
                                                    : "") +
                e->desc();
    }
    throw BuildFailure{"ERR_BAD_MODEL", "TensorRT's ONNX parser rejected the model:" + errors};
  }
  logger.flush();

  // Everything the config points at is declared before it, so it outlives the config.
  TrtInt8BatchSource* monitoredSource = source;
  ForwardingProgressMonitor monitor(logger, monitoredSource);
  Owned<nvinfer1::ITimingCache> timingCache;
#if TRT_INT8_IMPLICIT_QUANTIZATION
  CalibrationState calibration;
  calibration.source = source;
  std::unique_ptr<nvinfer1::IInt8Calibrator> calibrator;
#endif
  Owned<nvinfer1::IBuilderConfig> config(builder->createBuilderConfig());
  if (!config) throw BuildFailure{"ERR_BUILD_FAILED", "createBuilderConfig failed"};
  if (spec.workspaceBytes > 0)
    config->setMemoryPoolLimit(nvinfer1::MemoryPoolType::kWORKSPACE, static_cast<size_t>(spec.workspaceBytes));
  // Detailed layer information makes Engine.inspect() useful; it costs nothing at run time.
  config->setProfilingVerbosity(nvinfer1::ProfilingVerbosity::kDETAILED);
  if (spec.builderOptimizationLevel >= 0) config->setBuilderOptimizationLevel(spec.builderOptimizationLevel);

  config->setProgressMonitor(&monitor);

  // Optimization profiles: required when any input has a dynamic dimension.
  bool dynamic = false;
  for (int i = 0; i < network->getNbInputs(); ++i) dynamic = dynamic || hasDynamicDim(network->getInput(i)->getDimensions());
  for (size_t p = 0; p < spec.profiles.size(); ++p) {
    nvinfer1::IOptimizationProfile* profile = builder->createOptimizationProfile();
    std::string what = "profiles[" + std::to_string(p) + "]";
    for (const auto& [name, range] : spec.profiles[p]) fillProfile(*profile, *network, name, range, what.c_str());
    if (config->addOptimizationProfile(profile) < 0)
      throw BuildFailure{"ERR_BAD_OPTION", what + " is incomplete or invalid: " + logger.lastErrors()};
  }
  if (dynamic && spec.profiles.empty()) {
    std::string which;
    for (int i = 0; i < network->getNbInputs(); ++i) {
      nvinfer1::ITensor* t = network->getInput(i);
      if (hasDynamicDim(t->getDimensions())) which += std::string(which.empty() ? "" : ", ") + t->getName() + " " + dimsText(t->getDimensions());
    }
    throw BuildFailure{"ERR_BAD_OPTION", "the network has dynamic inputs (" + which + ") but no optimization profile was given"};
  }

  // Timing cache: start from the given bytes; the builder adds what it times, and we hand the merged cache back.
  if (spec.useTimingCache) {
    timingCache.reset(config->createTimingCache(spec.timingCache.data(), spec.timingCache.size()));
    if (!timingCache) throw BuildFailure{"ERR_CACHE_FORMAT", "TensorRT could not read the timing cache: " + logger.lastErrors()};
    if (!config->setTimingCache(*timingCache, false))
      throw BuildFailure{"ERR_CACHE_MISMATCH", "the timing cache was made for another device or TensorRT version: " + logger.lastErrors()};
  }

#if TRT_INT8_IMPLICIT_QUANTIZATION
  bool int8 = spec.precision == Precision::kINT8 || spec.precision == Precision::kBEST;
  if (spec.precision == Precision::kFP16 || spec.precision == Precision::kBEST) config->setFlag(nvinfer1::BuilderFlag::kFP16);
  if (int8) {
    config->setFlag(nvinfer1::BuilderFlag::kINT8);
    switch (spec.calibrator) {
      case CalibratorKind::kEntropy2: calibrator = std::make_unique<EntropyCalibrator2>(calibration); break;
      case CalibratorKind::kEntropy: calibrator = std::make_unique<EntropyCalibrator>(calibration); break;
      case CalibratorKind::kMinMax: calibrator = std::make_unique<MinMaxCalibrator>(calibration); break;
      case CalibratorKind::kLegacy:
        calibrator = std::make_unique<LegacyCalibrator>(calibration, spec.legacyQuantile, spec.legacyRegressionCutoff);
        break;
      case CalibratorKind::kNone: break;  // a model with Q/DQ nodes needs none
    }
    if (calibrator) config->setInt8Calibrator(calibrator.get());
    if (calibrator && dynamic) {
      // Calibration runs at one fixed shape per input: the OPT shape JS chose (and validates every batch against).
      nvinfer1::IOptimizationProfile* calib = builder->createOptimizationProfile();
      for (const auto& [name, shape] : spec.calibrationProfile)
        fillProfile(*calib, *network, name, ShapeRange{shape, shape, shape}, "calibrationProfile");
      if (!config->setCalibrationProfile(calib))
        throw BuildFailure{"ERR_BAD_OPTION", "TensorRT refused the calibration profile: " + logger.lastErrors()};
    }
  }
  if (!spec.exclude.empty()) {
    // Keep the named layers (and their helper layers) in FP32; "prefer" lets TensorRT fall back with a
    // warning where no FP32 kernel exists rather than failing the build.
    std::set<std::string> unmatched(spec.exclude.begin(), spec.exclude.end());
    for (int i = 0; i < network->getNbLayers(); ++i) {
      nvinfer1::ILayer* layer = network->getLayer(i);
      std::string name = layer->getName();
      for (const auto& wanted : spec.exclude) {
        if (!layerMatches(name, wanted)) continue;
        unmatched.erase(wanted);
        layer->setPrecision(nvinfer1::DataType::kFLOAT);
        for (int o = 0; o < layer->getNbOutputs(); ++o) {
          nvinfer1::DataType t = layer->getOutput(o)->getType();
          if (t == nvinfer1::DataType::kFLOAT || t == nvinfer1::DataType::kHALF)
            layer->setOutputType(o, nvinfer1::DataType::kFLOAT);
        }
        result.excludedLayers.push_back(name);
        break;
      }
    }
    if (!unmatched.empty()) {
      std::string names, sample;
      for (const auto& n : unmatched) names += (names.empty() ? "" : ", ") + n;
      for (int i = 0; i < network->getNbLayers() && i < 12; ++i) sample += (i ? ", " : "") + std::string(network->getLayer(i)->getName());
      throw BuildFailure{"ERR_BAD_OPTION", "exclude names no layer of the network: " + names + " (layers: " + sample + ", ...)"};
    }
    config->setFlag(nvinfer1::BuilderFlag::kPREFER_PRECISION_CONSTRAINTS);
  }
#endif

  logger.flush();
  if (source->is_aborted(source->self)) throw BuildFailure{"ABORT_ERR", "aborted before the build started"};
  Owned<nvinfer1::IHostMemory> plan(builder->buildSerializedNetwork(*network, *config));
  logger.flush();

#if TRT_INT8_IMPLICIT_QUANTIZATION
  result.calibrationBatches = calibration.batchesServed;
  result.calibrationCacheUsed = calibration.cacheRead;
  // TensorRT ends calibration quietly when getBatch says "no more": a failed callback must still fail the build.
  if (calibration.failed) throw BuildFailure{"ERR_CALIBRATOR_CALLBACK", calibration.failure};
  if (calibrator && calibration.calibrationStarted && calibration.batchesServed == 0 && !calibration.cacheRead)
    throw BuildFailure{"ERR_EMPTY_DATASET", "the calibrator gave no batch and no calibration cache"};
#endif
  if (source->is_aborted(source->self)) throw BuildFailure{"ABORT_ERR", "the build was aborted"};
  if (!plan || plan->size() == 0) {
    std::string why = logger.lastErrors();
    throw BuildFailure{"ERR_BUILD_FAILED", "TensorRT could not build the engine:\n" + (why.empty() ? "TensorRT logged no error" : why)};
  }

  const auto* bytes = static_cast<const uint8_t*>(plan->data());
  result.plan.assign(bytes, bytes + plan->size());
  if (timingCache) {
    Owned<nvinfer1::IHostMemory> serialized(timingCache->serialize());
    if (serialized) {
      const auto* t = static_cast<const uint8_t*>(serialized->data());
      result.timingCache.assign(t, t + serialized->size());
    }
  }
  result.done = true;
}

void writeError(char* error, size_t capacity, const std::string& text) {
  if (!error || capacity == 0) return;
  size_t n = text.size() < capacity - 1 ? text.size() : capacity - 1;
  std::memcpy(error, text.data(), n);
  error[n] = '\0';
}

}  // namespace

int runBuildJob(void* arg, TrtInt8BatchSource* source, char* error, size_t capacity) {
  auto* job = static_cast<BuildJobState*>(arg);
  ForwardingLogger logger(job->spec.maxLogSeverity);
  logger.attach(source);
  int rc = 0;
  try {
    build(*job, source, logger);
  } catch (const BuildFailure& f) {
    writeError(error, capacity, f.code + ": " + f.message);
    rc = 1;
  } catch (const std::exception& e) {
    writeError(error, capacity, std::string("ERR_BUILD_FAILED: ") + e.what());
    rc = 1;
  } catch (...) {
    writeError(error, capacity, "ERR_BUILD_FAILED: unknown native error");
    rc = 1;
  }
  logger.flush();
  logger.attach(nullptr);
  return rc;
}

void destroyBuildJob(void* arg) { delete static_cast<BuildJobState*>(arg); }

}  // namespace trt_int8::trt

#pragma GCC diagnostic pop
