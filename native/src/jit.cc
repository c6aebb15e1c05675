// TorchScript modules (torch::jit::load): forward with autograd, train/eval, parameters and buffers that share
// storage with the module, children with their type names, a submodule's forward by dotted name, save.
// Modules live in their own slab addressed by numeric ids, like tensors (common.h): JS frees them
// deterministically with jitDispose, no finaliser. A child handle shares the object of its parent (jit::Module is
// a reference), so updating a child's parameter updates the whole model.
#include "common.h"

#include <torch/script.h>
#include <torch/csrc/jit/python/update_graph_executor_opt.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include <cstring>
#include <sstream>
#include <unordered_map>

namespace advexp {
namespace {

using Info = const Napi::CallbackInfo&;

std::unordered_map<uint32_t, torch::jit::Module> modules;
uint32_t nextId = 1;

torch::jit::Module& GetModule(const Napi::Value& v) {
  if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), "expected a TorchScript module handle");
  auto it = modules.find(v.As<Napi::Number>().Uint32Value());
  if (it == modules.end()) throw Napi::Error::New(v.Env(), "TorchScript module was already disposed");
  return it->second;
}

Napi::Value PutModule(Napi::Env env, torch::jit::Module m) {
  uint32_t id = nextId++;
  modules.emplace(id, std::move(m));
  return Napi::Number::New(env, id);
}

std::string Str(const Napi::Value& v, const char* what) {
  if (!v.IsString()) throw Napi::TypeError::New(v.Env(), std::string(what) + ": expected a string");
  return v.As<Napi::String>().Utf8Value();
}

// The first line of libtorch's message: load errors carry a C++ source excerpt after it.
std::string FirstLine(const std::string& s) {
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

// jitLoad(path) -> handle. Throws "libtorch: <first line>"; the TS side turns it into a message naming the file.
Napi::Value Load(Info info) {
  Napi::Env env = info.Env();
  std::string path = Str(info[0], "jitLoad path");
  try {
    return PutModule(env, torch::jit::load(path, at::Device(at::kCPU)));
  } catch (const c10::Error& e) {
    throw Napi::Error::New(env, "libtorch: " + FirstLine(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, "libtorch: " + FirstLine(e.what()));
  }
}

Napi::Value Dispose(Info info) {
  if (info[0].IsNumber()) modules.erase(info[0].As<Napi::Number>().Uint32Value());
  return info.Env().Undefined();
}

Napi::Value LiveModules(Info info) { return Napi::Number::New(info.Env(), (double)modules.size()); }

at::Tensor OutputTensor(Napi::Env env, const c10::IValue& out, const std::string& what) {
  if (out.isTensor()) return out.toTensor();
  // A tuple/list output (e.g. (logits, features)): the first tensor is the prediction.
  if (out.isTuple() && !out.toTupleRef().elements().empty() && out.toTupleRef().elements()[0].isTensor())
    return out.toTupleRef().elements()[0].toTensor();
  throw Napi::Error::New(env, what + " returned " + out.tagKind() + ", expected a tensor");
}

// jitForward(handle, x) -> tensor: the module's forward on one tensor, recorded by autograd.
Napi::Value Forward(Info info) {
  Napi::Env env = info.Env();
  ADVEXP_TRY
  auto& m = GetModule(info[0]);
  at::Tensor x = slab::Get(info[1]);
  return slab::Put(env, OutputTensor(env, m.forward({x}), "forward"));
  ADVEXP_CATCH(env)
}

Napi::Value Train(Info info) {
  ADVEXP_TRY
  GetModule(info[0]).train(Bool(info[1], true));
  return info.Env().Undefined();
  ADVEXP_CATCH(info.Env())
}
Napi::Value IsTraining(Info info) {
  ADVEXP_TRY
  return Napi::Boolean::New(info.Env(), GetModule(info[0]).is_training());
  ADVEXP_CATCH(info.Env())
}

// [[name, tensorId], ...]: the module's own tensors (same TensorImpl), so in-place updates reach the module.
template <typename List>
Napi::Value NamedTensors(Napi::Env env, const List& list) {
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  for (const auto& nt : list) {
    Napi::Array pair = Napi::Array::New(env, 2);
    pair.Set(0u, Napi::String::New(env, nt.name));
    pair.Set(1u, slab::Put(env, nt.value));
    out.Set(i++, pair);
  }
  return out;
}
Napi::Value NamedParameters(Info info) {
  ADVEXP_TRY
  return NamedTensors(info.Env(), GetModule(info[0]).named_parameters(true));
  ADVEXP_CATCH(info.Env())
}
Napi::Value NamedBuffers(Info info) {
  ADVEXP_TRY
  return NamedTensors(info.Env(), GetModule(info[0]).named_buffers(true));
  ADVEXP_CATCH(info.Env())
}

std::string TypeName(const torch::jit::Module& m) {
  auto n = m.type()->name();
  return n.has_value() ? n->qualifiedName() : std::string("?");
}

// jitChildren(handle) -> [[name, childHandle, typeName, hasForward], ...]
Napi::Value Children(Info info) {
  Napi::Env env = info.Env();
  ADVEXP_TRY
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  for (const auto& c : GetModule(info[0]).named_children()) {
    Napi::Array row = Napi::Array::New(env, 4);
    row.Set(0u, Napi::String::New(env, c.name));
    row.Set(1u, PutModule(env, c.value));
    row.Set(2u, Napi::String::New(env, TypeName(c.value)));
    row.Set(3u, Napi::Boolean::New(env, c.value.find_method("forward").has_value()));
    out.Set(i++, row);
  }
  return out;
  ADVEXP_CATCH(env)
}

// jitNamedModules(handle) -> [[dottedName, typeName], ...] (the root is '').
Napi::Value NamedModules(Info info) {
  Napi::Env env = info.Env();
  ADVEXP_TRY
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  for (const auto& c : GetModule(info[0]).named_modules()) {
    Napi::Array row = Napi::Array::New(env, 2);
    row.Set(0u, Napi::String::New(env, c.name));
    row.Set(1u, Napi::String::New(env, TypeName(c.value)));
    out.Set(i++, row);
  }
  return out;
  ADVEXP_CATCH(env)
}

Napi::Value TypeNameOf(Info info) {
  ADVEXP_TRY
  return Napi::String::New(info.Env(), TypeName(GetModule(info[0])));
  ADVEXP_CATCH(info.Env())
}

// jitCallModule(handle, dottedName, x) -> tensor: forward of the submodule at a dotted path ('' = the module).
Napi::Value CallModule(Info info) {
  Napi::Env env = info.Env();
  ADVEXP_TRY
  torch::jit::Module m = GetModule(info[0]);
  std::string path = Str(info[1], "jitCallModule name");
  size_t start = 0;
  while (!path.empty() && start <= path.size()) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    auto attr = m._ivalue()->type()->findAttributeSlot(part);
    if (!attr.has_value() || !m.attr(part).isModule())
      throw Napi::Error::New(env, "TorchScript module has no submodule '" + path.substr(0, dot) + "'");
    m = m.attr(part).toModule();
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return slab::Put(env, OutputTensor(env, m.forward({slab::Get(info[2])}), "forward of '" + path + "'"));
  ADVEXP_CATCH(env)
}

// jitSave(handle) -> Uint8Array: the module as a TorchScript archive (the TS side writes it atomically).
Napi::Value Save(Info info) {
  Napi::Env env = info.Env();
  ADVEXP_TRY
  std::ostringstream out;
  GetModule(info[0]).save(out);
  std::string bytes = out.str();
  Napi::Uint8Array a = Napi::Uint8Array::New(env, bytes.size());
  if (!bytes.empty()) std::memcpy(a.Data(), bytes.data(), bytes.size());
  return a;
  ADVEXP_CATCH(env)
}

// Ops whose behaviour depends on the training flag, and the name of that argument in their schema.
bool ModeArgument(const torch::jit::Node* n, std::string* arg) {
  static const std::pair<const char*, const char*> kOps[] = {
    {"aten::batch_norm", "training"}, {"aten::instance_norm", "use_input_stats"}, {"aten::dropout", "train"},
    {"aten::dropout_", "train"}, {"aten::feature_dropout", "train"}, {"aten::alpha_dropout", "train"},
    {"aten::feature_alpha_dropout", "train"}, {"aten::_batch_norm_impl_index", "training"},
  };
  for (const auto& [op, name] : kOps) {
    if (n->kind() == c10::Symbol::fromQualString(op)) { *arg = name; return true; }
  }
  return false;
}

void ScanBlock(const torch::jit::Block* b, const std::string& where, std::vector<std::string>* baked) {
  for (const torch::jit::Node* n : b->nodes()) {
    std::string arg;
    if (ModeArgument(n, &arg)) {
      const c10::FunctionSchema* s = n->maybeSchema();
      if (s != nullptr) {
        auto idx = s->argumentIndexWithName(arg);
        if (idx.has_value() && *idx >= 0 && (size_t)*idx < n->inputs().size() &&
            n->inputs()[*idx]->node()->kind() == c10::prim::Constant) {
          baked->push_back(where + ": " + n->kind().toQualString());
        }
      }
    }
    for (const torch::jit::Block* sub : n->blocks()) ScanBlock(sub, where, baked);
  }
}

// jitModeBaked(handle) -> ["layer: aten::batch_norm", ...]: mode-dependent ops whose training flag is a constant in
// the graph (a traced module: the tracer records the mode it ran in). A scripted module reads self.training instead.
Napi::Value ModeBaked(Info info) {
  Napi::Env env = info.Env();
  ADVEXP_TRY
  std::vector<std::string> baked;
  for (const auto& c : GetModule(info[0]).named_modules()) {
    for (const auto& method : c.value.get_methods()) {
      ScanBlock(method.graph()->block(), c.name.empty() ? std::string("(root)") : c.name, &baked);
    }
  }
  Napi::Array out = Napi::Array::New(env, baked.size());
  for (size_t i = 0; i < baked.size(); i++) out.Set(i, Napi::String::New(env, baked[i]));
  return out;
  ADVEXP_CATCH(env)
}

// jitCode(handle) -> the forward method's graph as text (diagnostics, tests).
Napi::Value Code(Info info) {
  ADVEXP_TRY
  return Napi::String::New(info.Env(), GetModule(info[0]).get_method("forward").graph()->toString());
  ADVEXP_CATCH(info.Env())
}

// jitExecutor({optimize?, profiling?}) -> the previous {optimize, profiling}. Process-wide graph executor settings.
Napi::Value Executor(Info info) {
  Napi::Env env = info.Env();
  ADVEXP_TRY
  Napi::Object prev = Napi::Object::New(env);
  prev.Set("optimize", Napi::Boolean::New(env, torch::jit::getGraphExecutorOptimize()));
  prev.Set("profiling", Napi::Boolean::New(env, torch::jit::getProfilingMode().load()));
  if (info.Length() > 0 && info[0].IsObject()) {
    Napi::Object o = info[0].As<Napi::Object>();
    if (o.Has("optimize") && !o.Get("optimize").IsUndefined()) torch::jit::setGraphExecutorOptimize(o.Get("optimize").ToBoolean());
    if (o.Has("profiling") && !o.Get("profiling").IsUndefined()) {
      bool p = o.Get("profiling").ToBoolean();
      torch::jit::getProfilingMode() = p;
      torch::jit::getExecutorMode() = p;
    }
  }
  return prev;
  ADVEXP_CATCH(env)
}

}  // namespace

void InitJit(Napi::Env env, Napi::Object e) {
#define REG(jsname, fn) e.Set(jsname, Napi::Function::New<fn>(env, jsname))
  REG("jitLoad", Load); REG("jitDispose", Dispose); REG("jitLiveModules", LiveModules); REG("jitForward", Forward);
  REG("jitTrain", Train); REG("jitIsTraining", IsTraining); REG("jitNamedParameters", NamedParameters);
  REG("jitNamedBuffers", NamedBuffers); REG("jitChildren", Children); REG("jitNamedModules", NamedModules);
  REG("jitTypeName", TypeNameOf); REG("jitCallModule", CallModule); REG("jitSave", Save);
  REG("jitModeBaked", ModeBaked); REG("jitCode", Code); REG("jitExecutor", Executor);
#undef REG
}

}  // namespace advexp
