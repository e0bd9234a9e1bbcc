// The one place that includes TensorRT's headers. Every other file of the TensorRT module includes this,
// so that the version switches below are the only #if on the TensorRT major in the code base.
#pragma once

// TensorRT 10.x marks the implicit-INT8 API (calibrators, kINT8, kFP16) deprecated; 10.x is exactly the
// line where we still use it on purpose, so silence that warning for its headers and our uses of them.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#include <NvInfer.h>
#include <NvInferVersion.h>
#include <NvOnnxParser.h>
#pragma GCC diagnostic pop

#if NV_TENSORRT_MAJOR < 10
#error "trt-int8 builds its TensorRT module for TensorRT 10.x or 11.x only"
#endif

// 10.x: calibrators, BuilderFlag::kINT8/kFP16, precision constraints, weakly typed networks.
// 11.x: all of that is gone; every network is strongly typed and INT8 comes from Q/DQ nodes in the ONNX.
#if NV_TENSORRT_MAJOR >= 11
#define TRT_INT8_IMPLICIT_QUANTIZATION 0
#else
#define TRT_INT8_IMPLICIT_QUANTIZATION 1
#endif

namespace trt_int8::trt {

constexpr int kCompiledMajor = NV_TENSORRT_MAJOR;
constexpr int kCompiledMinor = NV_TENSORRT_MINOR;
constexpr int kCompiledPatch = NV_TENSORRT_PATCH;

}  // namespace trt_int8::trt
