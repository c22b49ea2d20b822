// gradia-dist Open MPI addon: one dedicated MPI thread per process makes every MPI call
// (MPI_THREAD_FUNNELED: the thread that called MPI_Init_thread is the only caller), so no
// MPI call ever blocks Node's event loop. JS submits jobs; each returns a promise, resolved
// on the JS thread through one thread-safe function.
//
// Every wait is a poll (MPI_Test* on non-blocking requests) so that, while a job waits, the
// MPI thread still (a) records which ranks announced their arrival at a collective (the
// step watchdog names the ones that did not), (b) exchanges heartbeats (a stopped or hung
// process stops sending them, a rank busy computing in JS does not) and (c) honours
// abort(code) -> MPI_Abort.
//
// allreduceSum is the project's ring all-reduce (src/comm/ring.ts) over MPI point-to-point:
// the same buckets, segments and summation order, so the sums are bitwise those of the
// single-machine cluster of the same size and identical on every rank.
#include <dlfcn.h>
#include <mpi.h>
#include <napi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int kTagArrive = 7102;
constexpr int kTagSendrecv = 7103;
constexpr int kTagBeat = 7104;
// The ring all-reduce: tags kTagRingBase .. kTagRingBase + kRingTags - 1 (MPI guarantees
// tags up to 32767), kRingWindow buckets in flight.
constexpr int kTagRingBase = 10000;
constexpr int kRingTags = 20000;
constexpr int kRingWindow = 4;
/** Every rank's MPI thread tells the others it is alive this often (a stopped process cannot). */
constexpr double kBeatIntervalS = 1.0;

using Clock = std::chrono::steady_clock;
double secondsSince(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Job {
  /** Runs on the MPI thread; throws std::runtime_error on failure. */
  std::function<void(Job&)> work;
  /** Builds the resolved value on the JS thread. */
  std::function<Napi::Value(Napi::Env, Job&)> result;
  Napi::Promise::Deferred deferred;
  /** Buffers the MPI thread reads or writes: kept alive until the job settles. */
  std::vector<Napi::ObjectReference> keep;
  std::string error;
  // Scratch results filled by work().
  double seconds = 0, waitSeconds = 0, bytesSent = 0, messages = 0;
  std::vector<std::vector<uint8_t>> gathered;
  bool finalize = false;
  explicit Job(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
};

struct MpiError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class MpiThread {
 public:
  // Written once by the MPI thread during init; read by JS after init resolved.
  int rank = -1;
  int size = 0;
  std::string host;
  std::string library;

  void start(Napi::Env env) {
    tsfn_ = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), "gradia_mpi", 0, 1);
    tsfn_.Unref(env);
    thread_ = std::thread([this] { loop(); });
    thread_.detach();
  }

  void submit(Napi::Env env, Job* job) {
    if (pending_++ == 0) tsfn_.Ref(env);
    {
      std::lock_guard<std::mutex> l(mu_);
      queue_.push_back(job);
    }
    cv_.notify_one();
  }

  void abort(int code) {
    abortCode_.store(code);
    cv_.notify_one();
  }

  std::vector<int64_t> arrivals() {
    std::lock_guard<std::mutex> l(arrMu_);
    return arrived_;
  }

  /**
   * This process's own last pause: the longest gap between two polls of the MPI thread seen
   * (seconds) and how long ago it ended; {0, -1} when none longer than kPauseS. A process that
   * was stopped (SIGSTOP) and continued sees the others as silent: it must not blame them.
   */
  std::pair<double, double> lastPause() {
    std::lock_guard<std::mutex> l(arrMu_);
    if (pauseGapS_ <= 0) return {0.0, -1.0};
    return {pauseGapS_, secondsSince(pauseEnd_)};
  }

  /** Seconds since each rank's last heartbeat (this rank: 0). */
  std::vector<double> silences() {
    std::lock_guard<std::mutex> l(arrMu_);
    std::vector<double> out(lastHeard_.size(), 0.0);
    for (size_t i = 0; i < lastHeard_.size(); i++) out[i] = static_cast<int>(i) == rank ? 0.0 : secondsSince(lastHeard_[i]);
    return out;
  }

  bool finalized() const { return finalized_.load(); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job*> queue_;
  std::atomic<int> abortCode_{-1};
  std::atomic<bool> finalized_{false};
  Napi::ThreadSafeFunction tsfn_;
  int pending_ = 0;  // JS thread only
  bool initialised_ = false;
  int64_t seq_ = 0;  // MPI thread only: collectives announced so far
  std::mutex arrMu_;
  std::vector<int64_t> arrived_;  // per rank: the last collective sequence number it announced (-1: none)
  std::vector<Clock::time_point> lastHeard_;  // per rank: its last heartbeat (init time before the first)
  Clock::time_point lastBeat_{};
  Clock::time_point lastPump_ = Clock::now();
  Clock::time_point pauseEnd_{};
  double pauseGapS_ = 0;
  static constexpr double kPauseS = 2.0;
  bool beating_ = false;
  std::deque<std::pair<std::unique_ptr<int64_t>, MPI_Request>> arrivalSends_;
  std::vector<float> ringScratch_[kRingWindow];  // MPI thread only: receive buffers by bucket slot
  std::thread thread_;

  static void check(int rc, const char* what) {
    if (rc == MPI_SUCCESS) return;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    throw MpiError(std::string(what) + " failed: " + std::string(msg, len));
  }

  void loop() {
    for (;;) {
      Job* job = nullptr;
      {
        std::unique_lock<std::mutex> l(mu_);
        // Idle: still drain arrival announcements and watch for abort every few ms.
        while (queue_.empty()) {
          l.unlock();
          pump();
          l.lock();
          if (queue_.empty()) cv_.wait_for(l, std::chrono::milliseconds(initialised_ ? 5 : 50));
        }
        job = queue_.front();
        queue_.pop_front();
      }
      try {
        job->work(*job);
      } catch (const std::exception& e) {
        job->error = e.what();
      }
      bool last = job->finalize && job->error.empty();
      tsfn_.BlockingCall(job, [this](Napi::Env env, Napi::Function, Job* j) { settle(env, j); });
      if (last) {
        tsfn_.Release();
        return;
      }
    }
  }

  void settle(Napi::Env env, Job* j) {
    Napi::HandleScope scope(env);
    if (j->error.empty()) {
      try {
        j->deferred.Resolve(j->result ? j->result(env, *j) : env.Undefined());
      } catch (const Napi::Error& e) {
        j->deferred.Reject(e.Value());
      }
    } else {
      j->deferred.Reject(Napi::Error::New(env, j->error).Value());
    }
    if (--pending_ == 0 && !j->finalize) tsfn_.Unref(env);
    delete j;
  }

  // ---- run on the MPI thread only ----
 public:
  void doInit() {
    if (initialised_) return;
    // Open MPI's components (dlopen'ed plugins) resolve libmpi's symbols globally; Node loads
    // addons RTLD_LOCAL, so promote the already-loaded library to global first.
    for (const char* lib : {"libmpi.so.40", "libmpi.so"}) {
      if (dlopen(lib, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD)) break;
    }
    int provided = 0;
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    char name[MPI_MAX_PROCESSOR_NAME];
    int len = 0;
    MPI_Get_processor_name(name, &len);
    host.assign(name, len);
    char ver[MPI_MAX_LIBRARY_VERSION_STRING];
    MPI_Get_library_version(ver, &len);
    library.assign(ver, len);
    auto nl = library.find_first_of("\r\n,");
    if (nl != std::string::npos) library.resize(nl);
    {
      std::lock_guard<std::mutex> l(arrMu_);
      arrived_.assign(size, -1);
      lastHeard_.assign(size, Clock::now());
    }
    beating_ = true;
    lastPump_ = Clock::now();
    initialised_ = true;
  }

  void doFinalize() {
    if (!initialised_) return;
    // No heartbeat may be in flight when MPI shuts down: stop sending, meet every rank (still
    // draining what arrives meanwhile), then drain what is left.
    beating_ = false;
    MPI_Request req;
    check(MPI_Ibarrier(MPI_COMM_WORLD, &req), "MPI_Ibarrier (finalize)");
    waitAll(&req, 1, "finalize");
    pump();
    waitArrivalSends();
    check(MPI_Finalize(), "MPI_Finalize");
    finalized_.store(true);
  }

  /** Announces to every other rank that this rank reached collective number seq_. */
  void announce() {
    int64_t s = seq_++;
    {
      std::lock_guard<std::mutex> l(arrMu_);
      arrived_[rank] = s;
    }
    for (int p = 0; p < size; p++) {
      if (p == rank) continue;
      auto buf = std::make_unique<int64_t>(s);
      MPI_Request req;
      check(MPI_Isend(buf.get(), 1, MPI_INT64_T, p, kTagArrive, MPI_COMM_WORLD, &req), "MPI_Isend (arrival)");
      arrivalSends_.emplace_back(std::move(buf), req);
    }
  }

  /** Between tests of a wait: abort if asked, record arrivals, retire finished announcements. */
  void pump() {
    int code = abortCode_.load();
    if (code >= 0) {
      if (initialised_ && !finalized_.load()) MPI_Abort(MPI_COMM_WORLD, code);
      std::_Exit(code);
    }
    if (!initialised_ || finalized_.load()) return;
    {
      double gap = secondsSince(lastPump_);
      lastPump_ = Clock::now();
      if (gap > kPauseS) {
        std::lock_guard<std::mutex> l(arrMu_);
        pauseGapS_ = gap;
        pauseEnd_ = lastPump_;
      }
    }
    if (beating_ && size > 1 && secondsSince(lastBeat_) >= kBeatIntervalS) {
      lastBeat_ = Clock::now();
      for (int p = 0; p < size; p++) {
        if (p == rank) continue;
        auto buf = std::make_unique<int64_t>(0);
        MPI_Request req;
        if (MPI_Isend(buf.get(), 1, MPI_INT64_T, p, kTagBeat, MPI_COMM_WORLD, &req) == MPI_SUCCESS) arrivalSends_.emplace_back(std::move(buf), req);
      }
    }
    for (;;) {
      int flag = 0;
      MPI_Status st;
      if (MPI_Iprobe(MPI_ANY_SOURCE, kTagBeat, MPI_COMM_WORLD, &flag, &st) != MPI_SUCCESS || !flag) break;
      int64_t s = 0;
      if (MPI_Recv(&s, 1, MPI_INT64_T, st.MPI_SOURCE, kTagBeat, MPI_COMM_WORLD, MPI_STATUS_IGNORE) != MPI_SUCCESS) break;
      std::lock_guard<std::mutex> l(arrMu_);
      lastHeard_[st.MPI_SOURCE] = Clock::now();
    }
    for (;;) {
      int flag = 0;
      MPI_Status st;
      if (MPI_Iprobe(MPI_ANY_SOURCE, kTagArrive, MPI_COMM_WORLD, &flag, &st) != MPI_SUCCESS || !flag) break;
      int64_t s = -1;
      if (MPI_Recv(&s, 1, MPI_INT64_T, st.MPI_SOURCE, kTagArrive, MPI_COMM_WORLD, MPI_STATUS_IGNORE) != MPI_SUCCESS) break;
      std::lock_guard<std::mutex> l(arrMu_);
      if (s > arrived_[st.MPI_SOURCE]) arrived_[st.MPI_SOURCE] = s;
    }
    for (auto it = arrivalSends_.begin(); it != arrivalSends_.end();) {
      int done = 0;
      if (MPI_Test(&it->second, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && done) it = arrivalSends_.erase(it);
      else ++it;
    }
  }

  void waitArrivalSends() {
    while (!arrivalSends_.empty()) {
      pump();
      if (!arrivalSends_.empty()) std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }

  /** Waits for every request, polling; returns when all completed. */
  void waitAll(MPI_Request* reqs, int n, const char* what) {
    int spins = 0;
    for (;;) {
      int done = 0;
      check(MPI_Testall(n, reqs, &done, MPI_STATUSES_IGNORE), what);
      if (done) return;
      pump();
      // Spin briefly (latency), then back off so that a waiting rank leaves the cores to others.
      if (++spins > 2000) std::this_thread::sleep_for(std::chrono::microseconds(spins > 20000 ? 200 : 20));
    }
  }

  void requireInit() {
    if (!initialised_) throw MpiError("MPI is not initialised (call init() first)");
    if (finalized_.load()) throw MpiError("MPI was finalized");
  }

  /**
   * The ring all-reduce of src/comm/ring.ts, in place, over MPI point-to-point messages.
   * Buckets are independent, so up to kRingWindow of them are in flight at once (one adds
   * while the next one's data is on the wire); within a bucket the rounds run in the ring's
   * order, so every element is summed exactly as the single-machine ring sums it.
   */
  void ringAllreduce(Job& job, float* data, int64_t total, int64_t bucketSize) {
    requireInit();
    auto t0 = Clock::now();
    announce();
    const int R = size;
    if (R == 1) {
      job.seconds = secondsSince(t0);
      return;
    }
    const int r = rank;
    const int next = (r + 1) % R;
    const int prev = (r - 1 + R) % R;
    auto mod = [](int64_t a, int64_t m) { return ((a % m) + m) % m; };
    auto bounds = [R](int64_t len, int64_t k, int64_t& a, int64_t& b) {
      a = (k * len) / R;
      b = ((k + 1) * len) / R;
    };
    // Stages of a bucket: R-1 reduce-scatter rounds, then R-1 all-gather rounds.
    const int stages = 2 * (R - 1);
    // Each (bucket slot, stage) has its own tag, so messages of buckets in flight never mix.
    int window = kRingWindow;
    while (window > 1 && window * stages > kRingTags) window--;
    const int64_t nBuckets = (total + bucketSize - 1) / bucketSize;
    struct Flight {
      int64_t bucket, base, len;
      int stage;
      MPI_Request req[2];
      float* tmp;  // a reduce-scatter round receives here (its slot's scratch), then adds
      int64_t ra, rb;
    };
    std::deque<Flight> active;
    auto post = [&](Flight& f) {
      const int st = f.stage;
      const bool accumulate = st < R - 1;
      const int g = st - (R - 1);
      const int64_t sendSeg = accumulate ? mod(r - st, R) : mod(r + 1 - g, R);
      const int64_t recvSeg = accumulate ? mod(r - st - 1, R) : mod(r - g, R);
      int64_t sa, sb;
      bounds(f.len, sendSeg, sa, sb);
      bounds(f.len, recvSeg, f.ra, f.rb);
      float* recvInto = data + f.base + f.ra;
      if (accumulate) recvInto = f.tmp;
      const int tag = kTagRingBase + static_cast<int>((f.bucket % window) * stages + st);
      check(MPI_Irecv(recvInto, static_cast<int>(f.rb - f.ra), MPI_FLOAT, prev, tag, MPI_COMM_WORLD, &f.req[0]), "MPI_Irecv");
      check(MPI_Isend(data + f.base + sa, static_cast<int>(sb - sa), MPI_FLOAT, next, tag, MPI_COMM_WORLD, &f.req[1]), "MPI_Isend");
      job.bytesSent += 4.0 * static_cast<double>(sb - sa);
      job.messages += 1;
    };
    int64_t nextBucket = 0;
    bool firstDone = false;
    int spins = 0;
    for (;;) {
      while (static_cast<int>(active.size()) < window && nextBucket < nBuckets) {
        const int64_t base = nextBucket * bucketSize;
        // Buckets retire in order, so the ones in flight have distinct slots (bucket % window).
        std::vector<float>& scratch = ringScratch_[nextBucket % window];
        const size_t need = static_cast<size_t>(std::min(bucketSize, total - base) / R + 1);
        if (scratch.size() < need) scratch.resize(need);
        active.push_back(Flight{nextBucket, base, std::min(bucketSize, total - base), 0, {MPI_REQUEST_NULL, MPI_REQUEST_NULL}, scratch.data(), 0, 0});
        nextBucket++;
        post(active.back());
      }
      if (active.empty()) break;
      bool progressed = false;
      for (Flight& f : active) {
        if (f.stage >= stages) continue;  // finished, retired below once every earlier bucket is
        int done = 0;
        check(MPI_Testall(2, f.req, &done, MPI_STATUSES_IGNORE), "all-reduce");
        if (!done) continue;
        progressed = true;
        if (!firstDone) {
          job.waitSeconds = secondsSince(t0);
          firstDone = true;
        }
        if (f.stage < R - 1) {
          float* d = data + f.base + f.ra;
          // The ring's order: what arrived (the partial sum so far) plus this rank's own value.
          for (int64_t i = 0; i < f.rb - f.ra; i++) d[i] = f.tmp[i] + d[i];
        }
        if (++f.stage < stages) post(f);
      }
      // Buckets retire in order, so the ones in flight are at most `window` consecutive
      // buckets and never share a tag slot or a scratch buffer (bucket % window).
      while (!active.empty() && active.front().stage >= stages) active.pop_front();
      if (progressed) {
        spins = 0;
        continue;
      }
      pump();
      if (++spins > 2000) std::this_thread::sleep_for(std::chrono::microseconds(spins > 20000 ? 200 : 20));
    }
    job.seconds = secondsSince(t0);
  }

  /** Open MPI's own all-reduce (non-blocking, polled), for comparison in benchmarks. */
  void nativeAllreduce(Job& job, float* data, int64_t n) {
    requireInit();
    auto t0 = Clock::now();
    announce();
    MPI_Request req;
    check(MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req), "MPI_Iallreduce");
    waitAll(&req, 1, "MPI_Iallreduce");
    job.seconds = secondsSince(t0);
    job.bytesSent = 4.0 * static_cast<double>(n);
  }

  void sendrecv(Job& job, const uint8_t* send, int64_t sendBytes, uint8_t* recv, int64_t recvBytes, int peer) {
    requireInit();
    if (peer < 0 || peer >= size || peer == rank) throw MpiError("sendrecv: bad peer rank " + std::to_string(peer));
    auto t0 = Clock::now();
    MPI_Request reqs[2];
    check(MPI_Irecv(recv, static_cast<int>(recvBytes), MPI_BYTE, peer, kTagSendrecv, MPI_COMM_WORLD, &reqs[0]), "MPI_Irecv");
    check(MPI_Isend(send, static_cast<int>(sendBytes), MPI_BYTE, peer, kTagSendrecv, MPI_COMM_WORLD, &reqs[1]), "MPI_Isend");
    waitAll(reqs, 2, "sendrecv");
    job.seconds = secondsSince(t0);
    job.bytesSent = static_cast<double>(sendBytes);
  }

  void barrier(Job& job) {
    requireInit();
    auto t0 = Clock::now();
    announce();
    MPI_Request req;
    check(MPI_Ibarrier(MPI_COMM_WORLD, &req), "MPI_Ibarrier");
    waitAll(&req, 1, "barrier");
    job.seconds = secondsSince(t0);
  }

  void allgather(Job& job, const uint8_t* bytes, int n) {
    requireInit();
    announce();
    std::vector<int> counts(size), displs(size);
    MPI_Request req;
    check(MPI_Iallgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD, &req), "MPI_Iallgather");
    waitAll(&req, 1, "allgather");
    int64_t total = 0;
    for (int p = 0; p < size; p++) {
      displs[p] = static_cast<int>(total);
      total += counts[p];
    }
    if (total > INT32_MAX) throw MpiError("allgather: more than 2 GiB in total");
    std::vector<uint8_t> all(static_cast<size_t>(std::max<int64_t>(total, 1)));
    check(MPI_Iallgatherv(bytes, n, MPI_BYTE, all.data(), counts.data(), displs.data(), MPI_BYTE, MPI_COMM_WORLD, &req), "MPI_Iallgatherv");
    waitAll(&req, 1, "allgather");
    job.gathered.resize(size);
    for (int p = 0; p < size; p++) job.gathered[p].assign(all.begin() + displs[p], all.begin() + displs[p] + counts[p]);
  }
};

MpiThread* g_mpi = nullptr;

MpiThread& mpi(Napi::Env env) {
  if (!g_mpi) {
    g_mpi = new MpiThread();  // lives as long as the process (MPI may be initialised once only)
    g_mpi->start(env);
  }
  return *g_mpi;
}

Napi::Object statsObject(Napi::Env env, const Job& j) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("seconds", j.seconds);
  o.Set("waitSeconds", j.waitSeconds);
  o.Set("bytesSent", j.bytesSent);
  o.Set("messages", j.messages);
  return o;
}

Napi::Value Submit(Napi::Env env, Job* job) {
  Napi::Promise p = job->deferred.Promise();
  mpi(env).submit(env, job);
  return p;
}

Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* job = new Job(env);
  MpiThread* m = &mpi(env);
  job->work = [m](Job&) { m->doInit(); };
  job->result = [m](Napi::Env e, Job&) {
    Napi::Object o = Napi::Object::New(e);
    o.Set("rank", m->rank);
    o.Set("size", m->size);
    o.Set("host", m->host);
    o.Set("library", m->library);
    return o;
  };
  return Submit(env, job);
}

Napi::Float32Array floatArg(const Napi::CallbackInfo& info, size_t i, const char* fn) {
  if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(info.Env(), std::string(fn) + ": expected a Float32Array");
  }
  return info[i].As<Napi::Float32Array>();
}

Napi::TypedArray bytesArg(const Napi::CallbackInfo& info, size_t i, const char* fn) {
  if (!info[i].IsTypedArray()) throw Napi::TypeError::New(info.Env(), std::string(fn) + ": expected a typed array");
  return info[i].As<Napi::TypedArray>();
}

uint8_t* bytesOf(Napi::TypedArray a) {
  return static_cast<uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset();
}

Napi::Value AllreduceSum(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Float32Array a = floatArg(info, 0, "allreduceSum");
  int64_t bucket = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int64Value() : (1 << 20);  // ring.ts DEFAULT_BUCKET_SIZE
  if (bucket < 1) throw Napi::RangeError::New(env, "allreduceSum: bucket size must be >= 1");
  auto* job = new Job(env);
  job->keep.push_back(Napi::Persistent(a.As<Napi::Object>()));
  float* data = a.Data();
  int64_t n = static_cast<int64_t>(a.ElementLength());
  MpiThread* m = &mpi(env);
  job->work = [m, data, n, bucket](Job& j) { m->ringAllreduce(j, data, n, bucket); };
  job->result = [](Napi::Env e, Job& j) { return statsObject(e, j); };
  return Submit(env, job);
}

Napi::Value AllreduceNative(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Float32Array a = floatArg(info, 0, "allreduceNative");
  auto* job = new Job(env);
  job->keep.push_back(Napi::Persistent(a.As<Napi::Object>()));
  float* data = a.Data();
  int64_t n = static_cast<int64_t>(a.ElementLength());
  MpiThread* m = &mpi(env);
  job->work = [m, data, n](Job& j) { m->nativeAllreduce(j, data, n); };
  job->result = [](Napi::Env e, Job& j) { return statsObject(e, j); };
  return Submit(env, job);
}

Napi::Value Sendrecv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::TypedArray s = bytesArg(info, 0, "sendrecv");
  Napi::TypedArray r = bytesArg(info, 1, "sendrecv");
  int peer = info[2].As<Napi::Number>().Int32Value();
  auto* job = new Job(env);
  job->keep.push_back(Napi::Persistent(s.As<Napi::Object>()));
  job->keep.push_back(Napi::Persistent(r.As<Napi::Object>()));
  const uint8_t* sp = bytesOf(s);
  uint8_t* rp = bytesOf(r);
  int64_t sn = static_cast<int64_t>(s.ByteLength()), rn = static_cast<int64_t>(r.ByteLength());
  MpiThread* m = &mpi(env);
  job->work = [m, sp, sn, rp, rn, peer](Job& j) { m->sendrecv(j, sp, sn, rp, rn, peer); };
  job->result = [](Napi::Env e, Job& j) { return statsObject(e, j); };
  return Submit(env, job);
}

Napi::Value Barrier(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* job = new Job(env);
  MpiThread* m = &mpi(env);
  job->work = [m](Job& j) { m->barrier(j); };
  job->result = [](Napi::Env e, Job& j) { return statsObject(e, j); };
  return Submit(env, job);
}

Napi::Value Allgather(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::TypedArray b = bytesArg(info, 0, "allgather");
  if (b.ByteLength() > static_cast<size_t>(INT32_MAX)) throw Napi::RangeError::New(env, "allgather: more than 2 GiB");
  auto* job = new Job(env);
  job->keep.push_back(Napi::Persistent(b.As<Napi::Object>()));
  const uint8_t* p = bytesOf(b);
  int n = static_cast<int>(b.ByteLength());
  MpiThread* m = &mpi(env);
  job->work = [m, p, n](Job& j) { m->allgather(j, p, n); };
  job->result = [](Napi::Env e, Job& j) {
    Napi::Array out = Napi::Array::New(e, j.gathered.size());
    for (size_t i = 0; i < j.gathered.size(); i++) {
      Napi::Uint8Array u = Napi::Uint8Array::New(e, j.gathered[i].size());
      if (!j.gathered[i].empty()) std::memcpy(u.Data(), j.gathered[i].data(), j.gathered[i].size());
      out.Set(static_cast<uint32_t>(i), u);
    }
    return out;
  };
  return Submit(env, job);
}

Napi::Value Finalize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* job = new Job(env);
  job->finalize = true;
  MpiThread* m = &mpi(env);
  job->work = [m](Job&) { m->doFinalize(); };
  return Submit(env, job);
}

Napi::Value Abort(const Napi::CallbackInfo& info) {
  int code = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 1;
  mpi(info.Env()).abort(std::max(0, code));
  return info.Env().Undefined();
}

Napi::Value Arrivals(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<int64_t> a = mpi(env).arrivals();
  Napi::Array out = Napi::Array::New(env, a.size());
  for (size_t i = 0; i < a.size(); i++) out.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(a[i])));
  return out;
}

Napi::Value Silences(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<double> s = mpi(env).silences();
  Napi::Array out = Napi::Array::New(env, s.size());
  for (size_t i = 0; i < s.size(); i++) out.Set(static_cast<uint32_t>(i), Napi::Number::New(env, s[i]));
  return out;
}

Napi::Value LastPause(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto p = mpi(env).lastPause();
  Napi::Object o = Napi::Object::New(env);
  o.Set("seconds", p.first);
  o.Set("endedAgo", p.second);
  return o;
}

Napi::Object ModuleInit(Napi::Env env, Napi::Object exports) {
  exports.Set("init", Napi::Function::New(env, Init));
  exports.Set("allreduceSum", Napi::Function::New(env, AllreduceSum));
  exports.Set("allreduceNative", Napi::Function::New(env, AllreduceNative));
  exports.Set("sendrecv", Napi::Function::New(env, Sendrecv));
  exports.Set("barrier", Napi::Function::New(env, Barrier));
  exports.Set("allgather", Napi::Function::New(env, Allgather));
  exports.Set("finalize", Napi::Function::New(env, Finalize));
  exports.Set("abort", Napi::Function::New(env, Abort));
  exports.Set("arrivals", Napi::Function::New(env, Arrivals));
  exports.Set("silences", Napi::Function::New(env, Silences));
  exports.Set("lastPause", Napi::Function::New(env, LastPause));
  return exports;
}

}  // namespace

NODE_API_MODULE(gradia_mpi, ModuleInit)
