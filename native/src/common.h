// Shared helpers of the binding: the Tensor handle class and JS <-> libtorch conversions.
// The binding is deliberately thin: it exposes libtorch's tensors, ops and autograd; all method
// logic (models, losses, attacks, explanations) lives in TypeScript.
#pragma once
#include <napi.h>
#include <torch/torch.h>

#include <atomic>
#include <optional>
#include <string>
#include <vector>

namespace advexp {

// Tensors live in a slab owned by C++; JS holds a numeric id (slot + generation), not a wrapped
// object. Why: N-API defers the finalisers of wrapped objects to the event loop, so a synchronous
// loop creating thousands of wrappers per step grows memory until it yields. Ids need no finaliser;
// the JS side frees them deterministically (scopes, dispose). The generation makes a stale id
// (used after dispose) an error instead of silently addressing a newer tensor.
namespace slab {
Napi::Value Put(Napi::Env env, at::Tensor t);   // returns the id
at::Tensor& Get(const Napi::Value& id);          // throws if not a live id
void Free(double id);
int64_t Live();
}  // namespace slab
void InitTensor(Napi::Env env, Napi::Object exports);

// Conversions. All throw Napi::Error with a message naming the argument.
std::vector<int64_t> IntList(const Napi::Value& v, const char* what);
std::optional<std::vector<int64_t>> OptIntList(const Napi::Value& v, const char* what);
at::ScalarType ParseDtype(const Napi::Value& v, at::ScalarType dflt);
const char* DtypeName(at::ScalarType t);
at::Device ParseDevice(const Napi::Value& v);
c10::optional<at::Tensor> OptTensor(const Napi::Value& v);
std::vector<at::Tensor> TensorList(const Napi::Value& v, const char* what);
Napi::Value WrapList(Napi::Env env, const std::vector<at::Tensor>& ts);
double Num(const Napi::Value& v, const char* what);
// A JS number as a Scalar: integral values become integral Scalars (like Python ints), so an int64
// tensor plus 3 stays int64; other values are double Scalars.
at::Scalar ToScalar(const Napi::Value& v, const char* what);
int64_t Int(const Napi::Value& v, const char* what);
bool Bool(const Napi::Value& v, bool dflt);

// Every entry point runs inside this: libtorch errors become JS exceptions with libtorch's
// own message (without the C++ backtrace), never a crash.
#define ADVEXP_TRY try {
#define ADVEXP_CATCH(env)                                                          \
  }                                                                                \
  catch (const Napi::Error& e) { throw; }                                          \
  catch (const c10::Error& e) {                                                    \
    throw Napi::Error::New(env, std::string("libtorch: ") + e.what_without_backtrace()); \
  }                                                                                \
  catch (const std::exception& e) {                                                \
    throw Napi::Error::New(env, std::string("libtorch: ") + e.what());             \
  }

void InitOps(Napi::Env env, Napi::Object exports);
void InitAutograd(Napi::Env env, Napi::Object exports);
void InitJit(Napi::Env env, Napi::Object exports);
void InitDistributed(Napi::Env env, Napi::Object exports);
void InitFused(Napi::Env env, Napi::Object exports);

}  // namespace advexp
