// MetricsHttpServer: the HTTP endpoint of live metrics (KOLO_METRICS_PORT). Boost.Beast parses
// and writes HTTP; this class only routes: GET /metrics answers 200 with the body the callback
// renders (Prometheus text, version 0.0.4), any other path 404, any other method 405. Each
// connection gets one response and is closed; a client that sends nothing for 10 s is dropped.
// It binds only the address it is given (KOLO_METRICS_ADDR, 127.0.0.1 by default).
// Thread: start() and the destructor on the owner's thread; requests on the server's own thread,
// which calls `render`.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "kolo/base/status.h"

namespace kolo::core {

class MetricsHttpServer {
 public:
  using Render = std::function<std::string()>;
  // Binds and listens on address:port (port 0: any free port) and starts serving. A port in
  // use, an address that is not this host's or a malformed address is an error naming them.
  static Expected<std::unique_ptr<MetricsHttpServer>> start(const std::string& address,
                                                            uint16_t port, Render render);
  ~MetricsHttpServer();  // stops serving and joins the thread
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  uint16_t port() const;

  struct Impl;

 private:
  explicit MetricsHttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kolo::core
