// torch.distributed's c10d for advexp: one process group per process (Gloo on CPU; NCCL when the linked libtorch
// has it), rendezvous through a TCPStore as torchrun does (rank 0 hosts it at MASTER_ADDR:MASTER_PORT).
//
// Collectives are issued on the JS thread, in call order, so every rank enqueues them in the same order (Gloo
// matches collectives by order); only the wait runs elsewhere: an AsyncWorker (a Promise) or, for code that must
// stay inside a synchronous scope (the trainer's step), the calling thread. A collective holds its own references to
// the tensors it reads and writes, so the JS side may dispose its handles while it is in flight.
//
// Every failure becomes a JS Error naming this rank and, where it can be found out, the rank at fault: after a
// failed collective each rank leaves a note in the store and looks, for a few seconds, for the others' notes; a
// rank that leaves none is named as dead or unreachable; a store that does not answer means rank 0 is gone.
#include "common.h"

#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#ifdef USE_C10D_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace advexp {
namespace {

using Info = const Napi::CallbackInfo&;
using ms = std::chrono::milliseconds;

struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
  int rank = 0, world = 1;
  ms timeout{0};
  std::string backend, master;
};

// Deliberately never destroyed at exit (a heap pointer): Gloo's threads must not be joined from static destructors
// after Node has torn down; destroy() releases the group explicitly.
std::shared_ptr<Group>* current = new std::shared_ptr<Group>();

std::shared_ptr<Group> Need(Napi::Env env, const char* what) {
  std::shared_ptr<Group> g = *current;
  if (!g) throw Napi::Error::New(env, std::string("distributed ") + what + ": no process group (call init first)");
  return g;
}

std::string Cause(std::exception_ptr ep) {
  try {
    std::rethrow_exception(ep);
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown error";
  }
}

std::string FirstLine(std::string s) {
  size_t nl = s.find('\n');
  if (nl != std::string::npos) s.resize(nl);
  return s;
}

std::string RankName(const Group& g) { return "rank " + std::to_string(g.rank) + " of " + std::to_string(g.world); }

// After a failed collective: which ranks are still there? Each rank notes its failure in the store, then waits a
// few seconds for the others' notes; those without one are named. A rank that failed first for its own reason left
// that reason (reportFailure), which is quoted.
std::string Diagnose(Group& g, const std::string& what, const std::string& cause) {
  std::string msg = RankName(g) + ": " + what + " failed: " + FirstLine(cause);
  try {
    g.store->setTimeout(ms(3000));
    std::string note = "collective failed";
    g.store->set("advexp/failed/" + std::to_string(g.rank), std::vector<uint8_t>(note.begin(), note.end()));
    auto deadline = std::chrono::steady_clock::now() + std::min(ms(3000), g.timeout);
    std::vector<int> silent;
    std::string reasons;
    for (int r = 0; r < g.world; r++) {
      if (r == g.rank) continue;
      std::string key = "advexp/failed/" + std::to_string(r);
      bool seen = g.store->check({key});
      while (!seen && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(ms(100));
        seen = g.store->check({key});
      }
      if (!seen) { silent.push_back(r); continue; }
      std::vector<uint8_t> v = g.store->get(key);
      std::string s(v.begin(), v.end());
      if (s != "collective failed") reasons += "; rank " + std::to_string(r) + " failed first: " + s;
    }
    if (!silent.empty()) {
      std::string list;
      for (size_t i = 0; i < silent.size(); i++) list += (i ? ", " : "") + std::to_string(silent[i]);
      msg += std::string("; rank") + (silent.size() > 1 ? "s " : " ") + list + " did not answer (dead, hung or unreachable)";
    }
    msg += reasons;
  } catch (const std::exception&) {
    msg += "; the rendezvous store at " + g.master + " (hosted by rank 0) does not answer: rank 0 died or the network is down";
  }
  return msg;
}

// One collective in flight: the work, the tensors it holds, what to do after it succeeded (copy a flattened bucket
// back, divide for an average) and, for allgather, the results.
struct Pending {
  std::shared_ptr<Group> g;
  std::string what;
  c10::intrusive_ptr<c10d::Work> work;
  std::vector<at::Tensor> hold;
  std::function<void()> finish;
  std::vector<at::Tensor> results;
  bool returnsList = false;
  std::string error;

  void Wait() {
    try {
      work->wait(g->timeout);
      at::NoGradGuard noGrad;
      if (finish) finish();
    } catch (...) {
      error = Diagnose(*g, what, Cause(std::current_exception()));
    }
  }
  Napi::Value Result(Napi::Env env) {
    hold.clear();
    if (returnsList) return WrapList(env, results);
    return env.Undefined();
  }
};

class WaitWorker : public Napi::AsyncWorker {
 public:
  WaitWorker(Napi::Env env, std::shared_ptr<Pending> p) : Napi::AsyncWorker(env), p_(std::move(p)), d_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return d_.Promise(); }
  void Execute() override {
    p_->Wait();
    if (!p_->error.empty()) SetError(p_->error);
  }
  void OnOK() override { d_.Resolve(p_->Result(Env())); }
  void OnError(const Napi::Error& e) override {
    p_->hold.clear();
    d_.Reject(e.Value());
  }

 private:
  std::shared_ptr<Pending> p_;
  Napi::Promise::Deferred d_;
};

// Runs a pending collective to its end: a Promise (async) or right here (sync: returns the result or throws).
Napi::Value Complete(Napi::Env env, std::shared_ptr<Pending> p, bool async) {
  if (async) {
    auto* w = new WaitWorker(env, p);
    Napi::Promise promise = w->Promise();
    w->Queue();
    return promise;
  }
  p->Wait();
  if (!p->error.empty()) {
    p->hold.clear();
    throw Napi::Error::New(env, p->error);
  }
  return p->Result(env);
}

// Issues fn (which starts the work) with the failure of starting it reported like a failed wait.
template <typename F>
std::shared_ptr<Pending> Issue(Napi::Env env, const char* what, F start) {
  auto p = std::make_shared<Pending>();
  p->g = Need(env, what);
  p->what = what;
  try {
    at::NoGradGuard noGrad;
    start(*p);
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw Napi::Error::New(env, Diagnose(*p->g, what, Cause(std::current_exception())));
  }
  return p;
}

// Detached views of the JS tensors (same storage): in-place copies into parameters need no autograd check.
std::vector<at::Tensor> Detached(const Napi::Value& v, const char* what) {
  std::vector<at::Tensor> ts = TensorList(v, what);
  if (ts.empty()) throw Napi::TypeError::New(v.Env(), std::string(what) + ": expected at least one tensor");
  for (auto& t : ts) {
    if (t.scalar_type() != ts[0].scalar_type()) throw Napi::TypeError::New(v.Env(), std::string(what) + ": tensors of one call must share a dtype");
    if (t.device() != ts[0].device()) throw Napi::TypeError::New(v.Env(), std::string(what) + ": tensors of one call must be on one device");
    t = t.detach();
  }
  return ts;
}

// One flat buffer for a list (Gloo's allreduce over a list sums the entries together, not elementwise per entry),
// and the copy back into each tensor afterwards. A single contiguous tensor is used as it is.
struct Bucket {
  at::Tensor flat;
  std::function<void()> scatterBack;
};
Bucket Flatten(const std::vector<at::Tensor>& ts) {
  if (ts.size() == 1 && ts[0].is_contiguous()) return {ts[0], [] {}};
  std::vector<at::Tensor> flats;
  flats.reserve(ts.size());
  for (const auto& t : ts) flats.push_back(t.reshape({-1}));
  at::Tensor flat = at::cat(flats);
  return {flat, [ts, flat] {
    int64_t off = 0;
    for (const auto& t : ts) {
      t.copy_(flat.narrow(0, off, t.numel()).view(t.sizes()));
      off += t.numel();
    }
  }};
}

c10d::ReduceOp ParseOp(Napi::Env env, const std::string& op) {
  if (op == "sum" || op == "avg") return c10d::ReduceOp::SUM;  // Gloo has no AVG: sum, then divide
  if (op == "max") return c10d::ReduceOp::MAX;
  if (op == "min") return c10d::ReduceOp::MIN;
  if (op == "product") return c10d::ReduceOp::PRODUCT;
  throw Napi::TypeError::New(env, "allreduce: op must be sum, avg, max, min or product, got '" + op + "'");
}

// ---- entry points ----

class InitWorker : public Napi::AsyncWorker {
 public:
  InitWorker(Napi::Env env, std::shared_ptr<Group> g, std::string host, int port, std::string iface, int threads)
      : Napi::AsyncWorker(env), g_(std::move(g)), host_(std::move(host)), port_(port), iface_(std::move(iface)), threads_(threads),
        d_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return d_.Promise(); }
  void Execute() override {
    Group& g = *g_;
    std::string stage = "rendezvous at " + g.master;
    try {
      c10d::TCPStoreOptions so;
      so.port = (uint16_t)port_;
      so.isServer = g.rank == 0;
      so.numWorkers = (size_t)g.world;
      so.waitWorkers = true;
      so.timeout = g.timeout;
      g.store = c10::make_intrusive<c10d::TCPStore>(host_, so);
      stage = g.backend + " process group";
      if (g.backend == "gloo") {
#ifdef USE_C10D_GLOO
        auto opts = c10d::ProcessGroupGloo::Options::create(g.timeout);
        bool loopback = host_ == "localhost" || host_.rfind("127.", 0) == 0 || host_ == "::1";
        // GLOO_SOCKET_IFNAME is read by PyTorch's Python layer, not by c10d: the caller passes the interface. Without
        // one, a loopback master means a one-machine run (bind loopback); otherwise Gloo's default: this host's name.
        if (!iface_.empty()) opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(iface_));
        else if (loopback) opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
        else opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
        opts->threads = threads_;
        g.pg = c10::make_intrusive<c10d::ProcessGroupGloo>(g.store, g.rank, g.world, opts);
#else
        throw std::runtime_error("this build has no Gloo (compiled without USE_C10D_GLOO)");
#endif
      } else if (g.backend == "nccl") {
#ifdef USE_C10D_NCCL
        auto opts = c10d::ProcessGroupNCCL::Options::create();
        opts->timeout = g.timeout;
        g.pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(g.store, g.rank, g.world, opts);
#else
        throw std::runtime_error("this libtorch has no NCCL (Debian's is CPU only): build against a CUDA libtorch with LIBTORCH=/path");
#endif
      } else {
        throw std::runtime_error("unknown backend '" + g.backend + "' (gloo or nccl)");
      }
    } catch (...) {
      std::string cause = FirstLine(Cause(std::current_exception()));
      std::string secs = std::to_string(g.timeout.count() / 1000.0);
      secs = secs.substr(0, secs.find('.') + 2);
      bool timedOut = cause.find("imeout") != std::string::npos || cause.find("timed out") != std::string::npos;
      std::string hint;
      if (timedOut && !g.store) {
        hint = "; rank 0's store at " + g.master + " did not answer within " + secs + " s (is rank 0 running, is the address reachable from here?)";
      } else if (timedOut) {
        hint = "; not all " + std::to_string(g.world) + " ranks joined within " + secs + " s (every rank needs the same MASTER_ADDR, MASTER_PORT and WORLD_SIZE, and an interface the others can reach: --iface)";
      }
      SetError(RankName(g) + ": " + stage + " failed: " + cause + hint);
    }
  }
  void OnOK() override {
    *current = g_;
    d_.Resolve(Env().Undefined());
  }
  void OnError(const Napi::Error& e) override { d_.Reject(e.Value()); }

 private:
  std::shared_ptr<Group> g_;
  std::string host_;
  int port_;
  std::string iface_;
  int threads_;
  Napi::Promise::Deferred d_;
};

std::string Str(const Napi::Object& o, const char* key, const std::string& dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsString()) throw Napi::TypeError::New(o.Env(), std::string("distributed init: ") + key + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}
int64_t IntOpt(const Napi::Object& o, const char* key, int64_t dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  return Int(v, key);
}

// init({backend, masterAddr, masterPort, rank, world, iface, timeoutMs, threads}) -> Promise<void>
Napi::Value Init(Info info) {
  Napi::Env env = info.Env();
  if (*current) throw Napi::Error::New(env, "distributed init: a process group exists already (destroy it first)");
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "distributed init: expected an options object");
  Napi::Object o = info[0].As<Napi::Object>();
  auto g = std::make_shared<Group>();
  g->backend = Str(o, "backend", "gloo");
  std::string host = Str(o, "masterAddr", "127.0.0.1");
  int64_t port = IntOpt(o, "masterPort", 29500);
  g->rank = (int)IntOpt(o, "rank", 0);
  g->world = (int)IntOpt(o, "world", 1);
  g->timeout = ms(IntOpt(o, "timeoutMs", 300000));
  g->master = host + ":" + std::to_string(port);
  if (g->world < 1 || g->rank < 0 || g->rank >= g->world) throw Napi::RangeError::New(env, "distributed init: rank must be in [0, world)");
  if (port < 1 || port > 65535) throw Napi::RangeError::New(env, "distributed init: masterPort must be in 1..65535");
  auto* w = new InitWorker(env, g, host, (int)port, Str(o, "iface", ""), (int)IntOpt(o, "threads", 2));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// allreduce(tensors[], op, async): in place, over one flattened bucket.
Napi::Value Allreduce(Info info) {
  Napi::Env env = info.Env();
  auto ts = Detached(info[0], "allreduce");
  std::string op = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "sum";
  c10d::ReduceOp rop = ParseOp(env, op);
  if (op == "avg" && !at::isFloatingType(ts[0].scalar_type())) throw Napi::TypeError::New(env, "allreduce: avg needs float tensors");
  auto p = Issue(env, "allreduce", [&](Pending& p) {
    Bucket b = Flatten(ts);
    p.hold = ts;
    p.hold.push_back(b.flat);
    int world = p.g->world;
    at::Tensor flat = b.flat;
    auto back = b.scatterBack;
    p.finish = [flat, back, world, op] {
      if (op == "avg") flat.div_(world);
      back();
    };
    std::vector<at::Tensor> args{flat};
    c10d::AllreduceOptions ao;
    ao.reduceOp = rop;
    p.work = p.g->pg->allreduce(args, ao);
  });
  return Complete(env, p, Bool(info[2], true));
}

// broadcast(tensors[], root, async): in place, rank root's values to every rank.
Napi::Value Broadcast(Info info) {
  Napi::Env env = info.Env();
  auto ts = Detached(info[0], "broadcast");
  int64_t root = info[1].IsNumber() ? Int(info[1], "root") : 0;
  auto p = Issue(env, "broadcast", [&](Pending& p) {
    if (root < 0 || root >= p.g->world) throw Napi::RangeError::New(env, "broadcast: root must be in [0, world)");
    Bucket b = Flatten(ts);
    p.hold = ts;
    p.hold.push_back(b.flat);
    p.finish = b.scatterBack;
    std::vector<at::Tensor> args{b.flat};
    c10d::BroadcastOptions bo;
    bo.rootRank = root;
    p.work = p.g->pg->broadcast(args, bo);
  });
  return Complete(env, p, Bool(info[2], true));
}

// allgather(tensor, async) -> tensor[world]: every rank's tensor (same shape on every rank), in rank order.
Napi::Value Allgather(Info info) {
  Napi::Env env = info.Env();
  auto ts = Detached(info[0], "allgather");
  if (ts.size() != 1) throw Napi::TypeError::New(env, "allgather: expected one tensor");
  auto p = Issue(env, "allgather", [&](Pending& p) {
    at::Tensor in = ts[0].contiguous();
    std::vector<at::Tensor> outs;
    for (int r = 0; r < p.g->world; r++) outs.push_back(at::empty_like(in));
    std::vector<std::vector<at::Tensor>> outArgs{outs};
    std::vector<at::Tensor> inArgs{in};
    p.hold = {in};
    p.results = outs;
    p.returnsList = true;
    p.work = p.g->pg->allgather(outArgs, inArgs, c10d::AllgatherOptions());
  });
  return Complete(env, p, Bool(info[1], true));
}

Napi::Value Barrier(Info info) {
  Napi::Env env = info.Env();
  auto p = Issue(env, "barrier", [&](Pending& p) { p.work = p.g->pg->barrier(c10d::BarrierOptions()); });
  return Complete(env, p, Bool(info[0], true));
}

// A differentiable sum over ranks (for synchronised batch norm): forward sums x over ranks; the gradient of every
// rank's output reaches every rank's input, so backward sums the incoming gradients over ranks the same way, again
// differentiably (double backprop: the Lipschitz loss differentiates through it twice). Blocking; every rank builds
// the same graph, so the collectives of backward come in the same order on every rank.
struct SumOverRanks : public torch::autograd::Function<SumOverRanks> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x) {
    std::shared_ptr<Group> g = *current;
    if (!g) throw std::runtime_error("sum over ranks: no process group");
    at::Tensor y = x.detach().clone().contiguous();
    std::vector<at::Tensor> args{y};
    try {
      g->pg->allreduce(args)->wait(g->timeout);
    } catch (...) {
      throw std::runtime_error(Diagnose(*g, "allreduce (synchronised batch norm)", Cause(std::current_exception())));
    }
    return y;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    return {SumOverRanks::apply(grads[0])};
  }
};

// sumOverRanks(tensor) -> tensor: blocking, differentiable.
Napi::Value SumOverRanksJs(Info info) {
  Napi::Env env = info.Env();
  Need(env, "sumOverRanks");
  ADVEXP_TRY
  return slab::Put(env, SumOverRanks::apply(slab::Get(info[0])));
  ADVEXP_CATCH(env)
}

// reportFailure(message): leaves this rank's reason in the store for the others' error messages (best effort).
Napi::Value ReportFailure(Info info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Group> g = *current;
  if (!g || !info[0].IsString()) return Napi::Boolean::New(env, false);
  std::string msg = FirstLine(info[0].As<Napi::String>().Utf8Value());
  try {
    g->store->setTimeout(ms(2000));
    g->store->set("advexp/failed/" + std::to_string(g->rank), std::vector<uint8_t>(msg.begin(), msg.end()));
    return Napi::Boolean::New(env, true);
  } catch (...) {
    return Napi::Boolean::New(env, false);
  }
}

// destroy(): releases the group (joins Gloo's threads) and the store.
Napi::Value Destroy(Info info) {
  std::shared_ptr<Group> g = *current;
  current->reset();
  if (g) {
    try {
      g->pg.reset();
      g->store.reset();
    } catch (...) { /* a failed peer: nothing left to release cleanly */ }
  }
  return info.Env().Undefined();
}

Napi::Value GroupInfo(Info info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Group> g = *current;
  if (!g) return env.Null();
  Napi::Object o = Napi::Object::New(env);
  o.Set("rank", g->rank);
  o.Set("world", g->world);
  o.Set("backend", g->backend);
  o.Set("master", g->master);
  o.Set("timeoutMs", (double)g->timeout.count());
  return o;
}

Napi::Value Backends(Info info) {
  Napi::Env env = info.Env();
  Napi::Array a = Napi::Array::New(env);
  uint32_t n = 0;
#ifdef USE_C10D_GLOO
  a.Set(n++, "gloo");
#endif
#ifdef USE_C10D_NCCL
  a.Set(n++, "nccl");
#endif
  (void)n;
  return a;
}

}  // namespace

void InitDistributed(Napi::Env env, Napi::Object e) {
  Napi::Object d = Napi::Object::New(env);
  d.Set("init", Napi::Function::New<Init>(env, "init"));
  d.Set("allreduce", Napi::Function::New<Allreduce>(env, "allreduce"));
  d.Set("broadcast", Napi::Function::New<Broadcast>(env, "broadcast"));
  d.Set("allgather", Napi::Function::New<Allgather>(env, "allgather"));
  d.Set("barrier", Napi::Function::New<Barrier>(env, "barrier"));
  d.Set("sumOverRanks", Napi::Function::New<SumOverRanksJs>(env, "sumOverRanks"));
  d.Set("reportFailure", Napi::Function::New<ReportFailure>(env, "reportFailure"));
  d.Set("destroy", Napi::Function::New<Destroy>(env, "destroy"));
  d.Set("info", Napi::Function::New<GroupInfo>(env, "info"));
  d.Set("backends", Napi::Function::New<Backends>(env, "backends"));
  e.Set("distributed", d);
}

}  // namespace advexp
