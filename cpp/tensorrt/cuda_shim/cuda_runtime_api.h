// Stand-in for the CUDA toolkit's cuda_runtime_api.h, which TensorRT's headers include only for two
// handle types. Both are declared exactly as CUDA declares them (pointers to opaque structs), so code
// compiled against this file is ABI-identical and the TensorRT module builds without a CUDA toolkit.
// scripts/build-tensorrt.mjs uses the real header instead when CUDA_INCLUDE is set.
#pragma once
typedef struct CUstream_st* cudaStream_t;
typedef struct CUevent_st* cudaEvent_t;
