#include "metrics_http_server.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <thread>

#include "kolo/base/thread_name.h"

namespace kolo::core {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kRequestTimeout = std::chrono::seconds(10);

http::response<http::string_body> respond(const http::request<http::string_body>& request,
                                          const MetricsHttpServer::Render& render) {
  http::response<http::string_body> response;
  response.version(request.version());
  response.keep_alive(false);
  response.set(http::field::server, "kolo");
  const bool metricsPath =
      request.target() == "/metrics" || request.target().starts_with("/metrics?");
  if (request.method() != http::verb::get && request.method() != http::verb::head) {
    response.result(http::status::method_not_allowed);
    response.set(http::field::allow, "GET, HEAD");
    response.body() = "only GET /metrics is served\n";
  } else if (!metricsPath) {
    response.result(http::status::not_found);
    response.body() = "kolo serves its metrics at /metrics\n";
  } else {
    response.result(http::status::ok);
    response.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    if (request.method() == http::verb::get) response.body() = render();
  }
  if (response.result() != http::status::ok) {
    response.set(http::field::content_type, "text/plain; charset=utf-8");
  }
  response.prepare_payload();
  return response;
}

// One connection: read a request, write its response, close.
struct Session : std::enable_shared_from_this<Session> {
  Session(tcp::socket socket, const MetricsHttpServer::Render& render)
      : stream(std::move(socket)), render(render) {}

  void run() {
    stream.expires_after(kRequestTimeout);
    http::async_read(stream, buffer, request,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (!ec) self->reply();
                     });
  }
  void reply() {
    response = respond(request, render);
    stream.expires_after(kRequestTimeout);
    http::async_write(stream, response, [self = shared_from_this()](beast::error_code, size_t) {
      beast::error_code ignored;
      self->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    });
  }

  beast::tcp_stream stream;
  const MetricsHttpServer::Render& render;
  beast::flat_buffer buffer;
  http::request<http::string_body> request;
  http::response<http::string_body> response;
};

}  // namespace

struct MetricsHttpServer::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  Render render;
  std::thread thread;

  void accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (!acceptor.is_open()) return;
      if (!ec) std::make_shared<Session>(std::move(socket), render)->run();
      accept();
    });
  }
};

Expected<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::start(const std::string& address,
                                                                      uint16_t port,
                                                                      Render render) {
  auto impl = std::make_unique<Impl>();
  impl->render = std::move(render);
  beast::error_code ec;
  const asio::ip::address ip = asio::ip::make_address(address, ec);
  if (ec) {
    return makeStatus(Code::kInvalidArgument, "KOLO_METRICS_ADDR '{}' is not an IP address ({})",
                      address, ec.message());
  }
  const tcp::endpoint endpoint(ip, port);
  auto fail = [&](const char* step) {
    return makeStatus(Code::kUnavailable, "metrics endpoint {}:{}: {} failed: {}", address, port,
                      step, ec.message());
  };
  if (impl->acceptor.open(endpoint.protocol(), ec)) return fail("open");
  // SO_REUSEADDR only lets a restarted job bind past TIME_WAIT; Linux still refuses a port
  // another socket listens on.
  if (impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec))
    return fail("setsockopt");
  if (impl->acceptor.bind(endpoint, ec)) return fail("bind");
  if (impl->acceptor.listen(asio::socket_base::max_listen_connections, ec)) return fail("listen");
  impl->accept();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] {
    nameThisThread("kolo-http");
    raw->io.run();
  });
  return std::unique_ptr<MetricsHttpServer>(new MetricsHttpServer(std::move(impl)));
}

MetricsHttpServer::MetricsHttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsHttpServer::~MetricsHttpServer() {
  asio::post(impl_->io, [impl = impl_.get()] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
    impl->io.stop();
  });
  if (impl_->thread.joinable()) impl_->thread.join();
}

uint16_t MetricsHttpServer::port() const {
  beast::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

}  // namespace kolo::core
