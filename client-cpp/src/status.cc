#include "client-cpp/src/status.h"

#include "kp/error.hpp"

namespace kp::detail {

void throwStatus(const grpc::Status& status, const std::string& address,
                 const std::string& closedReason) {
  StatusCode code = static_cast<StatusCode>(status.error_code());
  std::string message = status.error_message();
  switch (code) {
    case StatusCode::kUnavailable:
    case StatusCode::kCancelled:
      message = "cannot reach kpd at " + address + ": " +
                (message.empty() ? statusCodeName(code) : message);
      break;
    case StatusCode::kNotFound:
      // kpd itself names the reason of a session that ended recently.
      if (!closedReason.empty() && message.find(closedReason) == std::string::npos) {
        message += " (the session ended: " + closedReason + ")";
      }
      break;
    default:
      if (message.empty()) message = statusCodeName(code);
  }
  throwError(code, message);
}

}  // namespace kp::detail
