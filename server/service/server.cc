#include "server.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "error.h"

namespace kp::service {
namespace {

constexpr const char* kUnixPrefix = "unix:";

bool isUnix(const std::string& address) { return address.rfind(kUnixPrefix, 0) == 0; }

// Creates the socket's folder and removes a stale socket left by a previous daemon.
void prepareSocketPath(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path socket(path);
  std::error_code error;
  if (socket.has_parent_path()) fs::create_directories(socket.parent_path(), error);
  if (error) {
    engine::fail(engine::ErrorCode::kUnavailable, "cannot create folder " +
                                                      socket.parent_path().string() + ": " +
                                                      error.message());
  }
  struct stat info {};
  if (lstat(path.c_str(), &info) == 0) {
    if (!S_ISSOCK(info.st_mode)) {
      engine::fail(engine::ErrorCode::kUnavailable,
                   path + " exists and is not a socket; refusing to replace it");
    }
    ::unlink(path.c_str());
  }
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
  server->pool_ = std::make_unique<DevicePool>(instance);
  server->registry_ = std::make_unique<SessionRegistry>(*server->pool_, server->options_.service);
  server->service_ = std::make_unique<ComputeService>(*server->pool_, *server->registry_);

  grpc::EnableDefaultHealthCheckService(true);
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
  builder.RegisterService(server->service_.get());

  std::vector<std::unique_ptr<int>> ports;
  for (const std::string& address : options.listen) {
    if (isUnix(address)) {
      const std::string path = address.substr(std::string(kUnixPrefix).size());
      prepareSocketPath(path);
      server->socketPaths_.push_back(path);
    }
    ports.push_back(std::make_unique<int>(0));
    builder.AddListeningPort(address, grpc::InsecureServerCredentials(), ports.back().get());
  }
  server->server_ = builder.BuildAndStart();
  if (!server->server_) {
    engine::fail(engine::ErrorCode::kUnavailable,
                 "cannot listen on the requested address(es); is another kpd running?");
  }
  for (size_t i = 0; i < options.listen.size(); ++i) {
    const std::string& address = options.listen[i];
    if (isUnix(address)) {
      server->addresses_.push_back(address);
      continue;
    }
    if (*ports[i] == 0) {
      server->server_->Shutdown();
      engine::fail(engine::ErrorCode::kUnavailable, "cannot listen on " + address);
    }
    const std::string host = address.substr(0, address.rfind(':'));
    server->addresses_.push_back(host + ":" + std::to_string(*ports[i]));
  }
  if (!server->options_.service.dataSocket.empty()) {
    server->local_ = std::make_unique<LocalChannel>(server->options_.service.dataSocket,
                                                    *server->registry_, options.service.maxMessageBytes);
    spdlog::info("local data socket {}", server->local_->path());
  }
  for (const std::string& address : server->addresses_) spdlog::info("listening on {}", address);
  return server;
}

Server::~Server() {
  if (!shutDown_) shutdown(std::chrono::milliseconds(0));
}

void Server::shutdown(std::chrono::milliseconds drain) {
  if (shutDown_) return;
  shutDown_ = true;
  if (local_) local_->stop();
  registry_->closeAll("the daemon is shutting down");
  server_->Shutdown(std::chrono::system_clock::now() + drain);
  server_->Wait();
  for (const std::string& path : socketPaths_) ::unlink(path.c_str());
}

void Server::wait() { server_->Wait(); }

}  // namespace kp::service
