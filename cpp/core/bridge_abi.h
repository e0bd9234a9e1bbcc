/*
 * bridge_abi.h - the plain C ABI between the core addon's calibrator bridge and separately compiled native
 * modules (the TensorRT 10 / 11 modules). A module never links to the core addon: it only includes this header.
 *
 * Flow:
 *   1. A module exports a JS function that returns a napi External whose data is a TrtInt8NativeJob*, tagged with
 *      TRT_INT8_NATIVE_JOB_TYPE_TAG (napi_type_tag_object) and finalized with trt_int8_native_job_finalize below.
 *   2. JS hands that External to the core: `bridge.runJob(job, session, ...)`. The core MOVES the job out of the
 *      External (copies run/destroy/arg, then sets them to NULL, so the External's finalizer only frees the struct),
 *      starts its own std::thread (never a libuv pool thread), makes the session's CUDA primary context current on
 *      it (when the session uses device memory), and calls job.run(arg, source, error, capacity) there.
 *   3. run() uses `source` (backed by the JS calibrator) exactly like TensorRT's IInt8Calibrator uses its callbacks.
 *      All TrtInt8BatchSource functions are called from the job thread only (the thread run() was called on).
 *   4. After run() returns the core calls job.destroy(arg) on the job thread, then settles the JS Promise.
 *
 * Versioning: abi_version is TRT_INT8_BRIDGE_ABI_VERSION of the header a side was compiled with. The core refuses a
 * job whose abi_version differs from its own. struct_size allows appending fields in a later minor revision: read a
 * field only when struct_size covers it.
 */
#ifndef TRT_INT8_BRIDGE_ABI_H
#define TRT_INT8_BRIDGE_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TRT_INT8_BRIDGE_ABI_VERSION 1u

/* napi_type_tag {lower, upper} that marks an External holding a TrtInt8NativeJob*. */
#define TRT_INT8_NATIVE_JOB_TYPE_TAG_LOWER 0x7472742d696e7438ull /* "trt-int8" */
#define TRT_INT8_NATIVE_JOB_TYPE_TAG_UPPER 0x6e61746976656a01ull /* "nativej" + ABI 1 */

/* get_batch results (read_cache and write_cache use TRT_INT8_FAILED for errors too). */
#define TRT_INT8_BATCH_READY 1  /* bindings[i] now holds the buffer for names[i] */
#define TRT_INT8_END_OF_DATA 0  /* the calibrator has no more batches: finish calibration normally */
#define TRT_INT8_FAILED (-1)    /* error or abort: the job must end; the core already holds the reason */

/* read_cache results. */
#define TRT_INT8_CACHE_PRESENT 1
#define TRT_INT8_CACHE_ABSENT 0

/* log severities: the same numbers as nvinfer1::ILogger::Severity. */
#define TRT_INT8_LOG_INTERNAL_ERROR 0
#define TRT_INT8_LOG_ERROR 1
#define TRT_INT8_LOG_WARNING 2
#define TRT_INT8_LOG_INFO 3
#define TRT_INT8_LOG_VERBOSE 4

/* Memory the bindings point to. */
#define TRT_INT8_MEMORY_HOST 0   /* plain host memory (tests, CPU-only use) */
#define TRT_INT8_MEMORY_CUDA 1   /* CUDA device memory on device_ordinal, in the primary context */

typedef struct TrtInt8BatchSource {
  uint32_t abi_version; /* TRT_INT8_BRIDGE_ABI_VERSION */
  uint32_t struct_size; /* sizeof(TrtInt8BatchSource) as the core compiled it */
  void* self;           /* pass back as the first argument of every call */

  int32_t memory_kind;    /* TRT_INT8_MEMORY_HOST or TRT_INT8_MEMORY_CUDA */
  int32_t device_ordinal; /* CUDA device of the bindings, -1 for host memory */

  /*
   * Ask the JS calibrator for the next batch. names: the `count` input names TensorRT asks for. On
   * TRT_INT8_BATCH_READY, bindings[i] points to the buffer of names[i], already filled and (for CUDA memory)
   * synchronized: usable at once on any stream. The buffers stay valid and unchanged until the next get_batch call or
   * the end of the job. Blocks the job thread until JS answers, the job is aborted or the environment shuts down.
   */
  int (*get_batch)(void* self, const char* const* names, int32_t count, void** bindings);

  /*
   * Ask the calibrator for cached calibration bytes. TRT_INT8_CACHE_PRESENT: *data / *length are set and the bytes
   * stay valid until the job ends (the session owns them). TRT_INT8_CACHE_ABSENT: nothing cached. TRT_INT8_FAILED:
   * error or abort.
   */
  int (*read_cache)(void* self, const void** data, size_t* length);

  /* Hand calibration cache bytes to the calibrator. Copied before the call returns. 0 on success, TRT_INT8_FAILED. */
  int (*write_cache)(void* self, const void* data, size_t length);

  /* A log line for JS (forwarded live and kept for error reports). Never blocks; safe to call often. */
  void (*log)(void* self, int32_t severity, const char* message);

  /* Nonzero once the job should stop (AbortSignal, a failed callback, environment teardown). Cheap; poll it from
   * long loops and from TensorRT's IProgressMonitor. */
  int (*is_aborted)(void* self);
} TrtInt8BatchSource;

typedef struct TrtInt8NativeJob {
  uint32_t abi_version; /* TRT_INT8_BRIDGE_ABI_VERSION */
  uint32_t struct_size; /* sizeof(TrtInt8NativeJob) */
  void* arg;            /* the module's state, passed to run and destroy */

  /*
   * Runs on the core's job thread. Returns 0 on success. On failure returns nonzero and writes a NUL-terminated
   * message (truncated to error_capacity) into `error`. When a source call returned TRT_INT8_FAILED, just return
   * nonzero quickly: the core reports the calibrator's own error, not this message.
   */
  int (*run)(void* arg, TrtInt8BatchSource* source, char* error, size_t error_capacity);

  /* Frees arg. Called exactly once: by the core after run (job thread), or by the finalizer if never run. */
  void (*destroy)(void* arg);
} TrtInt8NativeJob;

#ifdef __cplusplus
} /* extern "C" */
#endif

/*
 * Helper for modules that create jobs with N-API (include node_api.h or napi.h before this header):
 *   TrtInt8NativeJob* job = (TrtInt8NativeJob*)calloc(1, sizeof *job); ... fill it ...
 *   napi_create_external(env, job, trt_int8_native_job_finalize, NULL, &external);
 *   napi_type_tag_object(env, external, &trt_int8_native_job_type_tag);
 */
#if defined(SRC_NODE_API_H_) && defined(NAPI_VERSION) && NAPI_VERSION >= 8
#include <stdlib.h>
static const napi_type_tag trt_int8_native_job_type_tag = {TRT_INT8_NATIVE_JOB_TYPE_TAG_LOWER,
                                                           TRT_INT8_NATIVE_JOB_TYPE_TAG_UPPER};
/* Finalizer of the External: destroys a job that was never run (run/destroy were not moved out), frees the struct. */
static inline void trt_int8_native_job_finalize(napi_env env, void* data, void* hint) {
  TrtInt8NativeJob* job = (TrtInt8NativeJob*)data;
  (void)env;
  (void)hint;
  if (job == NULL) return;
  if (job->destroy != NULL && job->arg != NULL) job->destroy(job->arg);
  free(job);
}
#endif

#endif /* TRT_INT8_BRIDGE_ABI_H */
