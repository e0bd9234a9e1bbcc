// native_error.h - the one error convention of every trt-int8 native module (the core addon's stats, bridge and
// cuda modules, and the TensorRT modules): a JS Error whose `code` property is an ErrorCode of src/core/errors.ts
// and whose message is plain text for people. src/native/errors.ts maps it to a TrtInt8Error by that property;
// nothing parses messages.
#pragma once

#include <napi.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace trt_int8 {

// A failure and its code, thrown where there is no napi_env (AsyncWorker::Execute, a job thread); turned into a
// coded JS Error on the JS thread by codedError(env, failure).
class CodedFailure : public std::runtime_error {
 public:
  CodedFailure(std::string code, const std::string& message) : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

// A JS Error with a stable `code`; throw it, or reject a promise with its Value().
inline Napi::Error codedError(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Value().Set("code", Napi::String::New(env, code));
  return error;
}

// The same for an argument of the wrong JS type (still an Error with `code`, and instanceof TypeError).
inline Napi::TypeError codedTypeError(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::TypeError error = Napi::TypeError::New(env, message);
  error.Value().Set("code", Napi::String::New(env, code));
  return error;
}

inline Napi::Error codedError(Napi::Env env, const CodedFailure& failure) { return codedError(env, failure.code(), failure.what()); }

// Any C++ exception as a coded JS Error: a CodedFailure keeps its code, anything else becomes `fallback`.
inline Napi::Error codedError(Napi::Env env, const std::exception& error, const std::string& fallback) {
  if (const auto* coded = dynamic_cast<const CodedFailure*>(&error)) return codedError(env, *coded);
  return codedError(env, fallback, error.what());
}

}  // namespace trt_int8
