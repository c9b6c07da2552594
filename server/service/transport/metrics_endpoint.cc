#include "server/service/transport/metrics_endpoint.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "server/base/error.h"

namespace kp::service {

MetricsEndpoint::MetricsEndpoint() : http_(std::make_unique<httplib::Server>()) {}

std::unique_ptr<MetricsEndpoint> MetricsEndpoint::start(const std::string& address,
                                                        std::function<std::string()> page) {
  const size_t colon = address.rfind(':');
  KP_REQUIRE(colon != std::string::npos && colon > 0 && colon + 1 < address.size(),
             base::ErrorCode::kInvalidArgument,
             "--metrics-listen: '" + address + "' is not HOST:PORT (e.g. 127.0.0.1:9464)");
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int port = -1;
  try {
    size_t used = 0;
    port = std::stoi(address.substr(colon + 1), &used);
    if (used != address.size() - colon - 1) port = -1;
  } catch (const std::exception&) {
    port = -1;
  }
  KP_REQUIRE(port >= 0 && port <= 65535, base::ErrorCode::kInvalidArgument,
             "--metrics-listen: the port of '" + address + "' is not a number from 0 to 65535");

  std::unique_ptr<MetricsEndpoint> endpoint(new MetricsEndpoint());
  httplib::Server& http = *endpoint->http_;
  http.set_read_timeout(std::chrono::seconds(5));
  http.set_write_timeout(std::chrono::seconds(5));
  http.set_keep_alive_timeout(5);
  http.set_payload_max_length(4096);
  http.Get("/metrics", [page = std::move(page)](const httplib::Request&, httplib::Response& out) {
    out.set_content(page(), "text/plain; version=0.0.4; charset=utf-8");
  });
  const int bound =
      port == 0 ? http.bind_to_any_port(host) : (http.bind_to_port(host, port) ? port : -1);
  KP_REQUIRE(bound > 0, base::ErrorCode::kUnavailable,
             "--metrics-listen: cannot listen on " + address + " (is the port free?)");
  endpoint->address_ = address.substr(0, colon) + ":" + std::to_string(bound);
  endpoint->thread_ = std::thread([&http] { http.listen_after_bind(); });
  // stop() is a no-op until the loop runs: wait for it, so that the destructor can stop it.
  const auto giveUp = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!http.is_running() && std::chrono::steady_clock::now() < giveUp) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  spdlog::info("metrics at http://{}/metrics", endpoint->address_);
  return endpoint;
}

MetricsEndpoint::~MetricsEndpoint() {
  http_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace kp::service
