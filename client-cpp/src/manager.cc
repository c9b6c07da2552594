#include "kp/manager.hpp"

#include <cstdlib>
#include <cstring>
#include <random>

#include "client-cpp/src/address.h"
#include "client-cpp/src/placement.h"
#include "client-cpp/src/security.h"
#include "client-cpp/src/session.h"
#include "client-cpp/src/wire.h"
#include "kp/error.hpp"

namespace kp {

namespace {

// ManagerOptions::sharedMemory as it applies: the option when set, else $KP_SHARED_MEMORY.
bool wantsSharedMemory(const std::optional<bool>& option) {
  if (option) return *option;
  const char* value = std::getenv("KP_SHARED_MEMORY");
  return value == nullptr || std::strcmp(value, "0") != 0;
}

// The entries of the address that `options` give: `addresses`, else `address`, else
// $KP_ADDRESS; none for the local socket.
std::vector<std::string> addressEntries(const ManagerOptions& options) {
  if (!options.address.empty() && !options.addresses.empty()) {
    throw InvalidArgumentError(
        StatusCode::kInvalidArgument,
        "ManagerOptions: address '" + options.address + "' and addresses both given; give one");
  }
  if (!options.addresses.empty()) return options.addresses;
  if (!options.address.empty()) return {options.address};
  const char* fromEnvironment = std::getenv("KP_ADDRESS");
  if (fromEnvironment != nullptr && *fromEnvironment != '\0') return {fromEnvironment};
  return {};
}

// A random engine seeded afresh, so that clients starting together choose apart.
detail::placement::Engine freshEngine() {
  std::random_device device;
  return detail::placement::Engine((static_cast<uint64_t>(device()) << 32) ^ device());
}

// The session that `options` describe: on the one daemon they name, or placed among several
// (see client-cpp/src/placement.h).
std::shared_ptr<detail::Session> openSession(const ManagerOptions& options) {
  const std::vector<std::string> entries = addressEntries(options);
  const bool sharedMemory = wantsSharedMemory(options.sharedMemory);
  auto open = [&](const std::string& address, uint32_t device) {
    return detail::Session::open(address, detail::Security(address, options), device,
                                 options.familyQueueIndices, sharedMemory);
  };
  const bool fleet =
      entries.size() > 1 || (entries.size() == 1 && detail::placement::isFleet(entries[0]));
  if (!fleet) {
    return open(detail::resolveAddress(entries.empty() ? "" : entries[0]),
                options.device.value_or(0));
  }
  std::vector<std::string> targets;
  for (const std::string& entry : detail::placement::splitAddresses(entries)) {
    targets.push_back(detail::resolveAddress(entry));
  }
  const detail::placement::Request request{options.device, options.deviceType, options.memoryBytes};
  auto loadOf = [&](const std::string& address) {
    return detail::placement::loadOf(detail::Security(address, options));
  };
  detail::placement::Engine engine = freshEngine();
  return detail::placement::place(std::move(targets), loadOf, open, request, engine);
}

ManagerOptions optionsAt(std::string address) {
  ManagerOptions options;
  options.address = std::move(address);
  return options;
}

}  // namespace

Manager::Manager(std::string address) : Manager(optionsAt(std::move(address))) {}

Manager::Manager(uint32_t device, const std::vector<uint32_t>& familyQueueIndices,
                 const std::vector<std::string>& /*desiredExtensions: kpd enables them*/)
    : Manager(ManagerOptions{"", device, familyQueueIndices, {}}) {}

Manager::Manager(const ManagerOptions& options) : session_(openSession(options)) {}

Manager::~Manager() {
  destroy();
}

Manager::Manager(Manager&&) noexcept = default;

Manager& Manager::operator=(Manager&& other) noexcept {
  if (this != &other) {
    destroy();
    session_ = std::move(other.session_);
  }
  return *this;
}

void Manager::destroy() {
  if (session_) session_->close();
}

std::shared_ptr<detail::Session> Manager::session() const {
  // After destroy(), the session's own calls say so (UnavailableError).
  if (!session_) {
    throw UnavailableError(StatusCode::kUnavailable, "the Manager was moved from");
  }
  return session_;
}

std::string Manager::address() const {
  return session_ ? session_->address() : std::string();
}

std::string Manager::closedReason() const {
  return session_ ? session_->closedReason() : "the Manager was moved from";
}

bool Manager::sharedMemory() const {
  return session_ && session_->local() != nullptr;
}

DeviceProperties Manager::getDeviceProperties() const {
  return detail::toDeviceProperties(session()->device());
}

std::vector<DeviceProperties> Manager::listDevices() const {
  v1::ListDevicesResponse response =
      session()->call(&detail::Session::Stub::ListDevices, v1::ListDevicesRequest());
  std::vector<DeviceProperties> devices;
  for (const v1::Device& device : response.devices()) {
    devices.push_back(detail::toDeviceProperties(device));
  }
  return devices;
}

DaemonStatus Manager::daemonStatus() const {
  v1::GetStatusResponse response =
      session()->call(&detail::Session::Stub::GetStatus, v1::GetStatusRequest());
  DaemonStatus status;
  status.sessions = response.sessions();
  status.objects = response.objects();
  for (const v1::DeviceMemory& memory : response.device_memory()) {
    status.allocatedBytes += memory.allocated_bytes();
  }
  return status;
}

std::shared_ptr<Sequence> Manager::sequence(uint32_t queueIndex, uint32_t totalTimestamps) {
  return std::make_shared<Sequence>(session(), queueIndex, totalTimestamps);
}

std::shared_ptr<TensorT<float>> Manager::tensor(const std::vector<float>& data,
                                                Tensor::TensorTypes tensorType) {
  return tensorT<float>(data, tensorType);
}

std::shared_ptr<Tensor> Manager::tensor(void* data, uint32_t elementTotalCount,
                                        uint32_t elementMemorySize,
                                        const Tensor::TensorDataTypes& dataType,
                                        Tensor::TensorTypes tensorType) {
  if (elementMemorySize != Tensor::hostElementSize(dataType)) {
    throw InvalidArgumentError(StatusCode::kInvalidArgument,
                               "tensor: elementMemorySize " + std::to_string(elementMemorySize) +
                                   " does not match " + Tensor::toString(dataType) + " (" +
                                   std::to_string(Tensor::hostElementSize(dataType)) + " bytes)");
  }
  const size_t bytes = static_cast<size_t>(elementTotalCount) * elementMemorySize;
  std::vector<uint8_t> host(bytes);
  if (bytes > 0) {
    if (data == nullptr) {
      throw InvalidArgumentError(StatusCode::kInvalidArgument, "tensor: data is null");
    }
    const auto* begin = static_cast<const uint8_t*>(data);
    std::copy(begin, begin + bytes, host.begin());
  }
  return std::make_shared<Tensor>(session(), std::move(host), elementTotalCount, dataType,
                                  tensorType);
}

std::shared_ptr<Algorithm> Manager::algorithm(const std::vector<std::shared_ptr<Tensor>>& tensors,
                                              ShaderSource shader, const Workgroup& workgroup,
                                              TypedConstants specializationConstants,
                                              TypedConstants pushConstants) {
  return std::make_shared<Algorithm>(session(), tensors, std::move(shader), workgroup,
                                     std::move(specializationConstants), std::move(pushConstants));
}

namespace {

std::vector<uint32_t> compileWith(detail::Session::Stub& stub, const std::string& glsl,
                                  const std::string& address, const detail::Security& security) {
  v1::CompileShaderRequest request;
  request.set_glsl(glsl);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  v1::CompileShaderResponse response;
  grpc::Status status = stub.CompileShader(&context, request, &response);
  if (!status.ok()) detail::throwStatus(security.explain(status), address, "");
  const std::string& bytes = response.spirv();
  std::vector<uint32_t> words(bytes.size() / sizeof(uint32_t));
  std::copy(bytes.begin(), bytes.begin() + words.size() * sizeof(uint32_t),
            reinterpret_cast<char*>(words.data()));
  return words;
}

}  // namespace

std::vector<uint32_t> Manager::compileSource(const std::string& glsl) const {
  std::shared_ptr<detail::Session> session = this->session();
  return compileWith(session->stub(), glsl, session->address(), session->security());
}

std::vector<uint32_t> compileSource(const std::string& glsl, const std::string& address) {
  return compileSource(glsl, optionsAt(address));
}

std::vector<uint32_t> compileSource(const std::string& glsl, const ManagerOptions& options) {
  const std::string resolved = detail::resolveAddress(options.address);
  const detail::Security security(resolved, options);
  std::unique_ptr<v1::Compute::Stub> stub = v1::Compute::NewStub(detail::makeChannel(security));
  return compileWith(*stub, glsl, resolved, security);
}

}  // namespace kp
