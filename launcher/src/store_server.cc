#include "kolo/launcher/store_server.h"

#include <fmt/format.h>
#include <sys/random.h>

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "kolo/protocol/store_wire.h"

namespace kolo::launcher {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using protocol::StoreOp;

Expected<std::string> randomBytes(size_t count) {
  std::string bytes(count, '\0');
  size_t filled = 0;
  while (filled < count) {
    ssize_t n = ::getrandom(bytes.data() + filled, count - filled, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return makeStatus(Code::kIoError, "getrandom failed: {}", std::strerror(errno));
    }
    filled += static_cast<size_t>(n);
  }
  return bytes;
}

}  // namespace

Expected<std::string> makeSecret() {
  return randomBytes(protocol::kSecretBytes);
}

class Connection;

class StoreServer::Impl {
 public:
  explicit Impl(StoreServerOptions options)
      : options_(std::move(options)), acceptor_(io_), joined_(options_.worldSize, false) {}

  Status listen() {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(options_.bindAddress, ec);
    if (ec) {
      return makeStatus(Code::kInvalidArgument, "store: '{}' is not an IP address: {}",
                        options_.bindAddress, ec.message());
    }
    tcp::endpoint endpoint(address, static_cast<unsigned short>(options_.port));
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return makeStatus(Code::kIoError, "store: cannot listen on {}:{}: {}", options_.bindAddress,
                        options_.port, ec.message());
    }
    port_ = acceptor_.local_endpoint(ec).port();
    accept();
    thread_ = std::thread([this] { io_.run(); });
    return Status::ok();
  }

  ~Impl();

  void accept();
  void log(const std::string& line) {
    if (options_.log) options_.log(line);
  }

  // Called on the io thread.
  void markJoined(uint32_t rank) {
    std::lock_guard lock(mutex_);
    joined_[rank] = true;
  }
  void countRejected() { rejected_.fetch_add(1); }
  // Called on the io thread: stores the value and answers everyone waiting for the key.
  void setValue(const std::string& key, std::string value);

  StoreServerOptions options_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  int port_ = 0;
  mutable std::mutex mutex_;  // guards joined_
  std::vector<bool> joined_;
  std::atomic<int> rejected_{0};

  // Owned by the io thread.
  struct Waiter {
    std::weak_ptr<Connection> connection;
    std::shared_ptr<asio::steady_timer> timer;
  };
  std::map<std::string, std::string> values_;
  std::map<std::string, std::vector<Waiter>> waiters_;
  std::set<std::shared_ptr<Connection>> connections_;
};

// One client connection. Lives in Impl::connections_ until it closes.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(StoreServer::Impl& server, tcp::socket socket)
      : server_(server), socket_(std::move(socket)), handshakeTimer_(server.io_) {
    boost::system::error_code ec;
    auto remote = socket_.remote_endpoint(ec);
    peer_ = ec ? std::string("unknown peer")
               : fmt::format("{}:{}", remote.address().to_string(), remote.port());
  }

  void start() {
    auto nonce = randomBytes(protocol::kNonceBytes);
    if (!nonce) {
      reject(nonce.status().message());
      return;
    }
    codec_ = std::make_unique<protocol::MessageCodec>(server_.options_.secret, *nonce,
                                                      protocol::StoreRole::kServer);
    decoder_.setMaxFrameBytes(protocol::kMaxHandshakeFrameBytes);
    send(protocol::encodeChallenge(*nonce));
    handshakeTimer_.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(server_.options_.handshakeTimeoutSeconds)));
    handshakeTimer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec && !self->authenticated_) {
        self->reject(fmt::format("no valid hello within {} s",
                                 self->server_.options_.handshakeTimeoutSeconds));
      }
    });
    read();
  }

  // Replies to a get that waited; the connection may have closed meanwhile.
  void reply(StoreOp op, const std::string& payload) {
    if (closed_) return;
    send(codec_->seal(op, payload));
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ec;
    handshakeTimer_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    // Its waiting gets go too: a rank that dies in a get without a deadline must not leave a
    // timer behind for the rest of the job.
    for (auto it = server_.waiters_.begin(); it != server_.waiters_.end();) {
      std::erase_if(it->second, [this](const StoreServer::Impl::Waiter& w) {
        auto owner = w.connection.lock();
        if (owner && owner.get() != this) return false;
        w.timer->cancel();
        return true;
      });
      it = it->second.empty() ? server_.waiters_.erase(it) : std::next(it);
    }
    server_.connections_.erase(shared_from_this());
  }

 private:
  void read() {
    socket_.async_read_some(
        asio::buffer(readBuffer_),
        [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
          if (self->closed_) return;
          if (ec) {
            // A clean EOF after authenticating is a rank finishing; anything else is worth a line.
            if (!self->authenticated_ && ec != asio::error::operation_aborted) {
              self->reject(fmt::format("disconnected before authenticating ({})", ec.message()));
            } else {
              self->close();
            }
            return;
          }
          self->decoder_.feed(std::string_view(self->readBuffer_.data(), n));
          while (!self->closed_) {
            auto frame = self->decoder_.next();
            if (!frame) {
              self->reject(frame.status().message());
              return;
            }
            if (!frame->has_value()) break;
            self->handle(**frame);
          }
          if (!self->closed_) self->read();
        });
  }

  void handle(const std::string& body) {
    auto message = codec_->open(body);
    if (!message) {
      reject(message.status().message());
      return;
    }
    protocol::PayloadReader in(message->payload);
    if (!authenticated_) {
      uint32_t rank = in.u32();
      if (message->op != StoreOp::kHello || !in.complete()) {
        reject(fmt::format("expected hello, got {}", protocol::storeOpName(message->op)));
        return;
      }
      if (rank != protocol::kNoRank && rank >= static_cast<uint32_t>(server_.options_.worldSize)) {
        reject(
            fmt::format("hello from rank {} of a {}-rank job", rank, server_.options_.worldSize));
        return;
      }
      authenticated_ = true;
      handshakeTimer_.cancel();
      decoder_.setMaxFrameBytes(protocol::kMaxFrameBytes);
      if (rank != protocol::kNoRank) server_.markJoined(rank);
      reply(StoreOp::kWelcome, {});
      return;
    }
    switch (message->op) {
      case StoreOp::kSet: {
        std::string key = in.str();
        std::string value = in.str();
        if (!in.complete()) return reject("malformed set");
        setValue(key, std::move(value));
        reply(StoreOp::kValue, protocol::PayloadWriter().str("").take());
        return;
      }
      case StoreOp::kGet: {
        std::string key = in.str();
        uint64_t timeoutMs = in.u64();
        if (!in.complete()) return reject("malformed get");
        getValue(key, timeoutMs);
        return;
      }
      case StoreOp::kAdd: {
        std::string key = in.str();
        int64_t delta = in.i64();
        if (!in.complete()) return reject("malformed add");
        int64_t current = 0;
        if (auto it = server_.values_.find(key); it != server_.values_.end()) {
          const std::string& text = it->second;
          auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), current);
          if (ec != std::errc() || end != text.data() + text.size()) {
            reply(StoreOp::kError,
                  protocol::encodeError(makeStatus(Code::kInvalidArgument,
                                                   "add '{}': the value is not an integer", key)));
            return;
          }
        }
        int64_t sum = 0;
        if (__builtin_add_overflow(current, delta, &sum)) {
          reply(StoreOp::kError,
                protocol::encodeError(makeStatus(Code::kInvalidArgument,
                                                 "add '{}': {} + {} overflows 64 bits", key,
                                                 current, delta)));
          return;
        }
        std::string result = std::to_string(sum);
        setValue(key, result);
        reply(StoreOp::kValue, protocol::PayloadWriter().str(result).take());
        return;
      }
      default:
        reject(fmt::format("unexpected {} message", protocol::storeOpName(message->op)));
    }
  }

  void setValue(const std::string& key, std::string value) { server_.setValue(key, std::move(value)); }

  void getValue(const std::string& key, uint64_t timeoutMs) {
    if (auto it = server_.values_.find(key); it != server_.values_.end()) {
      reply(StoreOp::kValue, protocol::PayloadWriter().str(it->second).take());
      return;
    }
    auto timer = std::make_shared<asio::steady_timer>(server_.io_);
    if (timeoutMs == protocol::kWaitForever) {
      timer->expires_at(asio::steady_timer::time_point::max());
    } else {
      timer->expires_after(std::chrono::milliseconds(
          std::min<uint64_t>(timeoutMs, uint64_t{365} * 24 * 3600 * 1000)));
    }
    server_.waiters_[key].push_back({weak_from_this(), timer});
    timer->async_wait([this, self = shared_from_this(), key,
                       raw = timer.get()](const boost::system::error_code& ec) {
      if (ec) return;  // cancelled: the key was set
      // The key may have been set after the timer expired but before this handler ran: setValue
      // then already answered and dropped the waiter, and a second reply would be read as the
      // answer to this connection's next request.
      auto it = server_.waiters_.find(key);
      if (it == server_.waiters_.end()) return;
      auto& list = it->second;
      if (std::erase_if(list, [raw](const auto& w) { return w.timer.get() == raw; }) == 0) return;
      if (list.empty()) server_.waiters_.erase(it);
      reply(StoreOp::kError, protocol::encodeError(makeStatus(
                                 Code::kTimeout, "key '{}' was not set before the deadline", key)));
    });
  }

  void send(std::string body) {
    outbox_.push_back(protocol::encodeFrame(body));
    if (outbox_.size() == 1) writeNext();
  }

  void writeNext() {
    asio::async_write(socket_, asio::buffer(outbox_.front()),
                      [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                        if (self->closed_) return;
                        if (ec) {
                          self->close();
                          return;
                        }
                        self->outbox_.erase(self->outbox_.begin());
                        if (!self->outbox_.empty()) self->writeNext();
                      });
  }

  void reject(const std::string& why) {
    if (closed_) return;
    server_.countRejected();
    server_.log(fmt::format("store: closed connection from {}: {}", peer_, why));
    close();
  }

  StoreServer::Impl& server_;
  tcp::socket socket_;
  asio::steady_timer handshakeTimer_;
  std::string peer_;
  std::unique_ptr<protocol::MessageCodec> codec_;
  protocol::FrameDecoder decoder_;
  std::array<char, 16 * 1024> readBuffer_{};
  std::vector<std::string> outbox_;
  bool authenticated_ = false;
  bool closed_ = false;
};

StoreServer::Impl::~Impl() {
  if (!thread_.joinable()) return;
  // Close everything on the io thread; run() then returns once the aborted handlers have run,
  // so no handler outlives the objects it points to.
  asio::post(io_, [this] {
    boost::system::error_code ec;
    acceptor_.close(ec);
    for (auto& [key, list] : waiters_) {
      for (auto& waiter : list) waiter.timer->cancel();
    }
    waiters_.clear();
    auto open = connections_;
    for (const auto& connection : open) connection->close();
  });
  thread_.join();
}

void StoreServer::Impl::accept() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      auto connection = std::make_shared<Connection>(*this, std::move(socket));
      connections_.insert(connection);
      connection->start();
    }
    accept();
  });
}

StoreServer::StoreServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

void StoreServer::Impl::setValue(const std::string& key, std::string value) {
  values_[key] = std::move(value);
  auto it = waiters_.find(key);
  if (it == waiters_.end()) return;
  std::vector<Waiter> waiters = std::move(it->second);
  waiters_.erase(it);
  const std::string payload = protocol::PayloadWriter().str(values_[key]).take();
  for (auto& waiter : waiters) {
    waiter.timer->cancel();
    if (auto connection = waiter.connection.lock()) connection->reply(StoreOp::kValue, payload);
  }
}

StoreServer::~StoreServer() = default;

void StoreServer::set(const std::string& key, std::string value) {
  asio::post(impl_->io_, [impl = impl_.get(), key, value = std::move(value)]() mutable {
    impl->setValue(key, std::move(value));
  });
}

std::optional<int64_t> StoreServer::add(const std::string& key, int64_t delta) {
  auto result = std::make_shared<std::promise<std::optional<int64_t>>>();
  auto future = result->get_future();
  asio::post(impl_->io_, [impl = impl_.get(), key, delta, result] {
    int64_t current = 0;
    if (auto it = impl->values_.find(key); it != impl->values_.end()) {
      const std::string& text = it->second;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), current);
      if (ec != std::errc() || end != text.data() + text.size()) {
        result->set_value(std::nullopt);
        return;
      }
    }
    impl->setValue(key, std::to_string(current + delta));
    result->set_value(current + delta);
  });
  if (future.wait_for(std::chrono::seconds(1)) != std::future_status::ready) return std::nullopt;
  return future.get();
}

void StoreServer::setIfUnclaimed(const std::string& key, std::string value,
                                 const std::string& claimKey) {
  asio::post(impl_->io_, [impl = impl_.get(), key, claimKey, value = std::move(value)]() mutable {
    if (impl->values_.count(key) || impl->values_.count(claimKey)) return;
    impl->values_[claimKey] = "1";
    impl->setValue(key, std::move(value));
  });
}

std::map<std::string, std::string> StoreServer::valuesWithPrefix(const std::string& prefix,
                                                                 double timeoutSeconds) const {
  auto result = std::make_shared<std::promise<std::map<std::string, std::string>>>();
  auto future = result->get_future();
  asio::post(impl_->io_, [impl = impl_.get(), prefix, result] {
    std::map<std::string, std::string> found;
    for (auto it = impl->values_.lower_bound(prefix);
         it != impl->values_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
      found.insert(*it);
    }
    result->set_value(std::move(found));
  });
  if (future.wait_for(std::chrono::duration<double>(timeoutSeconds)) != std::future_status::ready) {
    return {};
  }
  return future.get();
}

Expected<std::unique_ptr<StoreServer>> StoreServer::start(StoreServerOptions options) {
  if (options.secret.size() != protocol::kSecretBytes) {
    return makeStatus(Code::kInvalidArgument, "store: the secret must be {} bytes, got {}",
                      protocol::kSecretBytes, options.secret.size());
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  KOLO_RETURN_IF_ERROR(impl->listen());
  return std::unique_ptr<StoreServer>(new StoreServer(std::move(impl)));
}

int StoreServer::port() const {
  return impl_->port_;
}

std::vector<bool> StoreServer::joinedRanks() const {
  std::lock_guard lock(impl_->mutex_);
  return impl_->joined_;
}

int StoreServer::rejectedConnections() const {
  return impl_->rejected_.load();
}

}  // namespace kolo::launcher
