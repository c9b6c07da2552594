#include "server/service/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <optional>

#include "server/base/error.h"
#include "server/service/transport/bearer_token.h"
#include "server/service/transport/call_counter.h"
#include "server/service/transport/parse_errors.h"

namespace kp::service {
namespace {

constexpr const char* kUnixPrefix = "unix:";
// The name of kp's service in grpc.health.v1 (as in the proto's package and service).
constexpr const char* kComputeServiceName = "kp.v1.Compute";

bool isUnix(const std::string& address) {
  return address.rfind(kUnixPrefix, 0) == 0;
}

}  // namespace

std::string defaultListenAddress() {
  const char* runtime = std::getenv("XDG_RUNTIME_DIR");
  if (runtime && *runtime) return std::string(kUnixPrefix) + runtime + "/kp/kpd.sock";
  return std::string(kUnixPrefix) + "/run/kp/kpd.sock";
}

std::unique_ptr<Server> Server::start(std::shared_ptr<engine::Instance> instance,
                                      const ServerOptions& options) {
  std::unique_ptr<Server> server(new Server());
  server->options_ = options;
  for (const std::string& address : options.listen) {
    if (options.localDataSocket && isUnix(address)) {
      server->options_.service.dataSocket =
          address.substr(std::string(kUnixPrefix).size()) + ".data";
      break;
    }
  }

  // Security options first: refuse to start rather than serve unsafely.
  checkTlsOptions(options.tls);
  std::optional<BearerToken> token;
  if (!options.tokenFile.empty()) token = BearerToken::fromFile(options.tokenFile);
  std::vector<std::shared_ptr<grpc::ServerCredentials>> tcpCredentialsOf;
  for (const std::string& address : options.listen) {
    if (isUnix(address)) {
      tcpCredentialsOf.push_back(nullptr);
      continue;
    }
    tcpCredentialsOf.push_back(tcpCredentials(address, options.tls, options.insecureTcp));
    if (token && !options.tls.enabled() && !isLoopbackAddress(address)) {
      spdlog::warn("{}: the bearer token travels in clear text over plain TCP", address);
    }
  }

  const ServiceConfig& config = server->options_.service;
  server->pool_ = std::make_unique<DevicePool>(instance, config);
  server->retirement_ = std::make_unique<Retirement>(*server->pool_, config);
  server->registry_ =
      std::make_unique<SessionRegistry>(*server->pool_, *server->retirement_, config);
  server->watchdog_ = std::make_unique<DeviceWatchdog>(*server->pool_, *server->registry_,
                                                       *server->retirement_, config);
  server->reaper_ = std::make_unique<LeaseReaper>(*server->registry_, *server->retirement_);
  server->service_ = std::make_unique<ComputeService>(
      *server->pool_, *server->registry_, *server->reaper_, *server->retirement_, server->gate_,
      server->peers_, std::move(token));

  // grpc.health.v1 (the whole server, "", and kp.v1.Compute by name: what load balancers and
  // Kubernetes' gRPC probes ask) and server reflection (grpcurl list / describe).
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // A request over the limit is refused by gRPC itself, before any handler runs, with
  // RESOURCE_EXHAUSTED "Received message larger than max (<size> vs. <limit>)".
  builder.SetMaxReceiveMessageSize(options.service.maxMessageBytes);
  builder.SetMaxSendMessageSize(options.service.maxMessageBytes);
  // Notice dead TCP peers (a vanished client machine) within about a minute.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // Clients ping every 20 s to notice a vanished daemon: accept pings that often.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5'000);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             static_cast<int>(options.maxCallsPerConnection));
  builder.RegisterService(server->service_.get());
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> counters;
  counters.push_back(std::make_unique<CallCounterFactory>(server->gate_));
  counters.push_back(std::make_unique<ParseErrorsFactory>());
  builder.experimental().SetInterceptorCreators(std::move(counters));

  // Unix sockets are created and accepted by kpd itself (UnixListener); TCP ports by gRPC.
  std::vector<std::unique_ptr<int>> ports;
  for (size_t i = 0; i < options.listen.size(); ++i) {
    const std::string& address = options.listen[i];
    ports.push_back(std::make_unique<int>(0));
    if (isUnix(address)) {
      const std::string path = address.substr(std::string(kUnixPrefix).size());
      const auto activated = options.activatedSockets.find(path);
      server->unixListeners_.push_back(
          activated != options.activatedSockets.end()
              ? std::make_unique<UnixListener>(activated->second, path, server->peers_)
              : std::make_unique<UnixListener>(path, options.socket, server->peers_));
      continue;
    }
    builder.AddListeningPort(address, tcpCredentialsOf[i], ports.back().get());
  }
  server->server_ = builder.BuildAndStart();
  if (!server->server_) {
    base::fail(base::ErrorCode::kUnavailable,
               "cannot listen on the requested address(es); is another kpd running?");
  }
  if (auto* health = server->server_->GetHealthCheckService()) {
    health->SetServingStatus(kComputeServiceName, true);
  }
  // The local data socket first: a client that connects to a Unix socket is told about it at
  // once and must find it there.
  if (!server->options_.service.dataSocket.empty()) {
    LocalChannelLimits limits = options.local;
    limits.maxFrameBytes = static_cast<uint64_t>(options.service.maxMessageBytes);
    server->local_ =
        std::make_unique<LocalChannel>(server->options_.service.dataSocket, options.socket,
                                       *server->registry_, server->gate_, limits);
    server->service_->setLocalChannel(server->local_.get());
    spdlog::info("local data socket {} (mode {:04o}{})", server->local_->path(),
                 options.socket.mode,
                 options.socket.group.empty() ? "" : ", group " + options.socket.group);
  }
  size_t unixIndex = 0;
  for (size_t i = 0; i < options.listen.size(); ++i) {
    const std::string& address = options.listen[i];
    if (isUnix(address)) {
      UnixListener& listener = *server->unixListeners_[unixIndex++];
      listener.start(server->server_.get());
      server->addresses_.push_back(listener.address());
      if (options.activatedSockets.count(listener.path()) > 0) {
        spdlog::info("listening on {} (passed by systemd)", listener.address());
      } else {
        spdlog::info("listening on {} (mode {:04o}{})", listener.address(), options.socket.mode,
                     options.socket.group.empty() ? "" : ", group " + options.socket.group);
      }
      continue;
    }
    if (*ports[i] == 0) {
      server->shutdown(std::chrono::milliseconds(0));
      base::fail(
          base::ErrorCode::kUnavailable,
          "cannot listen on " + address +
              (options.tls.enabled() ? " (is the port free? do --tls-cert and --tls-key match?)"
                                     : " (is the port free?)"));
    }
    const std::string host = address.substr(0, address.rfind(':'));
    server->addresses_.push_back(host + ":" + std::to_string(*ports[i]));
    spdlog::info("listening on {} ({})", server->addresses_.back(),
                 describeTcpSecurity(options.tls));
  }
  if (!options.tokenFile.empty()) {
    spdlog::info("every call must carry the bearer token of {}", options.tokenFile);
  }
  if (!options.metricsListen.empty()) {
    server->metricsPage_ = std::make_unique<MetricsPage>(*server->pool_, *server->registry_,
                                                         *server->retirement_, config.version);
    try {
      server->metrics_ = MetricsEndpoint::start(
          options.metricsListen, [page = server->metricsPage_.get()] { return page->render(); });
    } catch (...) {
      server->shutdown(std::chrono::milliseconds(0));
      throw;
    }
  }
  return server;
}

namespace {

// Logs a step of stopping kpd that took more than a second: teardown should be quick, and a
// slow one must say where it waited.
class SlowStep {
 public:
  explicit SlowStep(const char* what) : what_(what), started_(CallGate::Clock::now()) {}
  ~SlowStep() {
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(CallGate::Clock::now() - started_)
            .count();
    if (ms >= 1000) spdlog::warn("stopping: {} took {} ms", what_, ms);
  }
  SlowStep(const SlowStep&) = delete;
  SlowStep& operator=(const SlowStep&) = delete;

 private:
  const char* what_;
  CallGate::Clock::time_point started_;
};

}  // namespace

Server::~Server() {
  if (!shutDown_) shutdown(std::chrono::milliseconds(0));
  if (service_) service_->setLocalChannel(nullptr);  // local_ goes first
}

void Server::shutdown(std::chrono::milliseconds drain) {
  if (shutDown_) return;
  shutDown_ = true;
  using Clock = CallGate::Clock;
  const auto started = Clock::now();
  const auto deadline = started + drain;

  // 1. Take no more calls: new ones are refused, local clients cannot even connect.
  gate_.startDraining();
  if (!server_) {  // start() failed half-way
    if (watchdog_) watchdog_->stop();
    if (reaper_) reaper_->stop();
    for (auto& listener : unixListeners_) listener->stop();
    if (local_) local_->stop();
    if (registry_) registry_->closeAll("the daemon is shutting down", Clock::now());
    return;
  }
  if (auto* health = server_->GetHealthCheckService()) health->SetServingStatus(false);
  for (auto& listener : unixListeners_) listener->stop();
  if (local_) local_->stopAccepting();

  // 2. Let the calls in flight finish.
  if (const size_t running = gate_.calls(); running > 0) {
    spdlog::info("waiting up to {} ms for {} call(s) in flight", drain.count(), running);
  }
  if (!gate_.waitForCalls(deadline)) {
    spdlog::warn("{} call(s) still running after {} ms (--drain-ms): cancelling them",
                 gate_.calls(), drain.count());
    // Waiting Evals notice within their 100 ms wait slice and answer UNAVAILABLE.
    gate_.giveUp();
    gate_.waitForCalls(Clock::now() + std::chrono::milliseconds(500));
  }

  // 3. End every session; their streams send `closed` to the clients. Their GPU work gets
  //    what is left of the drain time (at least kMinGpuWait) to finish; devices whose work is
  //    still running then (a runaway shader) are retired, ending the waits on them, and their
  //    memory is left allocated. Give the streams a moment to deliver `closed` even when the
  //    drain time is spent.
  {
    SlowStep step("stopping the local data socket, watchdog and reaper");
    if (local_) local_->stop();
    watchdog_->stop();
    reaper_->stop();
  }
  {
    SlowStep step("ending the sessions");
    registry_->closeAll("the daemon is shutting down",
                        std::max(deadline, Clock::now() + kMinGpuWait));
    retirement_->retireBusyDevices();  // no session is left on them
    retirement_->endSessionsOnRetiredDevices({});
    retirement_->releaseIdle();
  }
  const auto streamsDeadline = std::max(
      deadline,
      Clock::now() + std::min<std::chrono::milliseconds>(drain, std::chrono::milliseconds(1000)));
  if (!gate_.waitForStreams(streamsDeadline)) {
    spdlog::warn("{} session stream(s) did not finish: cancelling them", gate_.streams());
  }

  // 4. Stop gRPC. Every reply worth waiting for has been sent, so do not let it wait long
  //    (its graceful GOAWAY waits for every client to answer a ping, and an idle C++ client
  //    channel only answers when its backup poller runs, seconds later): a moment for the
  //    last bytes to reach the clients, then cancel what is left and drop the connections.
  {
    SlowStep step("stopping gRPC");
    server_->Shutdown(std::chrono::system_clock::now() +
                      std::min<std::chrono::milliseconds>(drain, std::chrono::milliseconds(200)));
    server_->Wait();
  }
  spdlog::info(
      "shut down in {} ms",
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count());
}

void Server::wait() {
  server_->Wait();
}

bool Server::alive(std::chrono::milliseconds maxAge) const {
  if (!watchdog_) return false;
  return std::chrono::steady_clock::now() - watchdog_->lastCheck() < maxAge;
}

bool Server::workLeftRunning() const {
  if (!retirement_) return false;
  retirement_->releaseIdle();
  return retirement_->retiredCount() > 0;
}

}  // namespace kp::service
