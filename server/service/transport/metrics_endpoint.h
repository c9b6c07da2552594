// The optional HTTP listener of kpd's Prometheus page (--metrics-listen HOST:PORT): GET
// /metrics answers MetricsPage::render(); every other path is 404. Served by cpp-httplib on a
// thread of its own with short read and write timeouts, so a slow or idle scraper cannot hold
// it; the page carries counts only, no session id or secret.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace kp::service {

class MetricsEndpoint {
 public:
  // Listens on `address` ("host:port", port 0 picks a free one; "[::1]:port" for IPv6) and
  // serves `page` at /metrics. Error(kUnavailable) naming the address if it cannot be bound,
  // Error(kInvalidArgument) if it is not host:port.
  static std::unique_ptr<MetricsEndpoint> start(const std::string& address,
                                                std::function<std::string()> page);
  // Stops listening and waits for the serving thread.
  ~MetricsEndpoint();
  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  // "host:port" with the chosen port.
  const std::string& address() const { return address_; }

 private:
  MetricsEndpoint();

  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  std::string address_;
};

}  // namespace kp::service
