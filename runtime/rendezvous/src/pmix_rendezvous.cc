#include "kolo/rendezvous/pmix_rendezvous.h"

#include "kolo/base/env.h"
#include "kolo/base/host_address.h"

#ifndef KOLO_HAVE_PMIX

namespace kolo {

bool launchedByPmix() {
  return getEnv("PMIX_RANK") && getEnv("PMIX_NAMESPACE");
}
bool builtWithPmix() {
  return false;
}

Expected<PmixJobStore> openPmixStore(const std::string&, double) {
  return Status(Code::kUnsupported,
                "this process was started by a PMIx launcher (PMIX_RANK is set) but Kolo was "
                "built without PMIx: install libpmix-dev and rebuild, or start the job with "
                "srun --mpi=none or kolorun");
}

}  // namespace kolo

#else

#include <openssl/rand.h>
#include <pmix.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <optional>

#include "kolo/base/logging.h"
#include "kolo/launcher/store_server.h"
#include "kolo/protocol/store_wire.h"
#include "kolo/rendezvous/rank_zero_store.h"

namespace kolo {
namespace {

Status pmixError(pmix_status_t rc, std::string_view what) {
  return makeStatus(Code::kIoError, "PMIx {} failed: {}", what, PMIx_Error_string(rc));
}

// One PMIx_Init .. PMIx_Finalize; PMIx counts nested inits, so each session finalizes its own.
class PmixSession {
 public:
  static Expected<std::shared_ptr<PmixSession> > init() {
    auto session = std::shared_ptr<PmixSession>(new PmixSession());
    if (pmix_status_t rc = PMIx_Init(&session->self_, nullptr, 0); rc != PMIX_SUCCESS) {
      session->initialized_ = false;
      return pmixError(rc, "PMIx_Init (is the PMIx server of the launcher reachable?)");
    }
    return session;
  }
  ~PmixSession() {
    if (initialized_) PMIx_Finalize(nullptr, 0);
  }
  const pmix_proc_t& self() const { return self_; }
  pmix_proc_t proc(pmix_rank_t rank) const {
    pmix_proc_t p;
    PMIX_PROC_CONSTRUCT(&p);
    PMIX_LOAD_PROCID(&p, self_.nspace, rank);
    return p;
  }

  // An integer attribute of `rank` (PMIX_RANK_WILDCARD: of the job).
  Expected<int64_t> integer(pmix_rank_t rank, const char* key) const {
    return get<int64_t>(rank, key, "an integer",
                        [](const pmix_value_t& v) -> std::optional<int64_t> {
                          switch (v.type) {
                            case PMIX_UINT16:
                              return v.data.uint16;
                            case PMIX_UINT32:
                              return v.data.uint32;
                            case PMIX_INT:
                              return v.data.integer;
                            case PMIX_UINT:
                              return v.data.uint;
                            case PMIX_PROC_RANK:
                              return v.data.rank;
                            default:
                              return std::nullopt;
                          }
                        });
  }

  Expected<std::string> text(pmix_rank_t rank, const char* key) const {
    return get<std::string>(rank, key, "text",
                            [](const pmix_value_t& v) -> std::optional<std::string> {
                              if (v.type == PMIX_STRING && v.data.string)
                                return std::string(v.data.string);
                              return std::nullopt;
                            });
  }

  Status publish(const char* key, const std::string& text) {
    pmix_value_t value;
    PMIX_VALUE_LOAD(&value, text.c_str(), PMIX_STRING);
    pmix_status_t rc = PMIx_Put(PMIX_GLOBAL, key, &value);
    PMIX_VALUE_DESTRUCT(&value);
    if (rc != PMIX_SUCCESS) return pmixError(rc, "PMIx_Put");
    if (rc = PMIx_Commit(); rc != PMIX_SUCCESS) return pmixError(rc, "PMIx_Commit");
    return Status::ok();
  }

  // Every task of the job reaches it; what each published before is then readable by all.
  Status fence(double timeoutSeconds) {
    pmix_proc_t all = proc(PMIX_RANK_WILDCARD);
    pmix_info_t info[2];
    bool collect = true;
    int timeout = std::max(1, static_cast<int>(timeoutSeconds));
    PMIX_INFO_LOAD(&info[0], PMIX_COLLECT_DATA, &collect, PMIX_BOOL);
    PMIX_INFO_LOAD(&info[1], PMIX_TIMEOUT, &timeout, PMIX_INT);
    pmix_status_t rc = PMIx_Fence(&all, 1, info, 2);
    PMIX_INFO_DESTRUCT(&info[0]);
    PMIX_INFO_DESTRUCT(&info[1]);
    if (rc != PMIX_SUCCESS) {
      return pmixError(
          rc, fmt::format("PMIx_Fence of every task (waited up to {:.3g} s)", timeoutSeconds));
    }
    return Status::ok();
  }

 private:
  PmixSession() { PMIX_PROC_CONSTRUCT(&self_); }

  // PMIx_Get of `key` for `rank`, converted by `convert` (nullopt: not of the kind `what`).
  template <typename T, typename Convert>
  Expected<T> get(pmix_rank_t rank, const char* key, const char* what, Convert convert) const {
    pmix_proc_t p = proc(rank);
    pmix_value_t* value = nullptr;
    if (pmix_status_t rc = PMIx_Get(&p, key, nullptr, 0, &value); rc != PMIX_SUCCESS) {
      return pmixError(rc, fmt::format("PMIx_Get({})", key));
    }
    std::optional<T> converted = convert(*value);
    PMIX_VALUE_RELEASE(value);
    if (!converted) return makeStatus(Code::kInternal, "PMIx {} is not {}", key, what);
    return std::move(*converted);
  }

  pmix_proc_t self_;
  bool initialized_ = true;
};

// Rank, size and the node's name, from the job data the PMIx server holds. Where each rank
// sits (local rank, node) Kolo derives from the node names, as for every other launcher:
// launchers differ in which layout keys they provide (Slurm's has no PMIX_LOCAL_RANK).
Status readJob(const PmixSession& pmix, PmixJobStore& out) {
  const pmix_rank_t me = pmix.self().rank;
  out.rank = static_cast<int>(me);
  KOLO_ASSIGN_OR_RETURN(int64_t size, pmix.integer(PMIX_RANK_WILDCARD, PMIX_JOB_SIZE));
  out.size = static_cast<int>(size);
  auto host = pmix.text(me, PMIX_HOSTNAME);
  if (!host) host = hostName();
  out.hostName = *host;
  return Status::ok();
}

// Rank 0: the secret, the server, and "ADDRESS PORT HEXSECRET" published for the others.
Expected<std::unique_ptr<launcher::StoreServer> > hostRendezvous(PmixSession& pmix,
                                                                 RankZeroStoreSpec& spec,
                                                                 const char* key) {
  KOLO_RETURN_IF_ERROR(fillFreshSecret(spec));
  KOLO_ASSIGN_OR_RETURN(auto server, startRankZeroServer(spec));
  spec.port = server->port();
  KOLO_RETURN_IF_ERROR(pmix.publish(key, rankZeroAnnouncement(spec, *server)));
  return server;
}

Status readRendezvous(const PmixSession& pmix, RankZeroStoreSpec& spec, const char* key) {
  KOLO_ASSIGN_OR_RETURN(std::string published, pmix.text(0, key));
  return readRankZeroAnnouncement(published, spec);
}

}  // namespace

bool launchedByPmix() {
  return getEnv("PMIX_RANK") && getEnv("PMIX_NAMESPACE");
}
bool builtWithPmix() {
  return true;
}

Expected<PmixJobStore> openPmixStore(const std::string& exported, double timeoutSeconds) {
  KOLO_ASSIGN_OR_RETURN(std::shared_ptr<PmixSession> pmix, PmixSession::init());
  PmixJobStore out;
  KOLO_RETURN_IF_ERROR(readJob(*pmix, out));
  // Every task opens as many sessions as the others, so the n-th one of each shares a key.
  static std::atomic<int> sessions{0};
  const int session = sessions.fetch_add(1);
  const std::string key = fmt::format("kolo.rendezvous.{}", session);
  out.jobId = fmt::format("pmix-{}.{}", pmix->self().nspace, session);
  for (char& c : out.jobId) {
    if (c == '/' || c == ' ') c = '_';
  }
  RankZeroStoreSpec spec;
  spec.rank = out.rank;
  spec.size = out.size;
  spec.secret = exported;
  spec.timeoutSeconds = timeoutSeconds;
  spec.what = fmt::format("PMIx namespace {}", pmix->self().nspace);
  spec.keepAlive = pmix;
  std::unique_ptr<launcher::StoreServer> server;
  if (out.rank == 0) {
    KOLO_ASSIGN_OR_RETURN(spec.address,
                          resolveIpv4(out.hostName, "rank 0's node (it hosts the rendezvous)"));
    KOLO_ASSIGN_OR_RETURN(server, hostRendezvous(*pmix, spec, key.c_str()));
  }
  KOLO_RETURN_IF_ERROR(pmix->fence(timeoutSeconds));
  if (out.rank != 0) KOLO_RETURN_IF_ERROR(readRendezvous(*pmix, spec, key.c_str()));
  out.secret = spec.secret;
  KOLO_ASSIGN_OR_RETURN(out.store, joinRankZeroStore(spec, std::move(server)));
  KOLO_LOG(kDebug, "rendezvous", "rank {} of {}: PMIx namespace {}, node {}", out.rank, out.size,
           pmix->self().nspace, out.hostName);
  return out;
}

}  // namespace kolo

#endif
