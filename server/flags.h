// kpd's command line: every flag with its help text and default, wired into the daemon's
// settings (ServerOptions for the service, the devices served included; logging, device listing
// and shutdown for main.cpp).
#pragma once

#include <string>
#include <vector>

#include "server/service/server.h"

namespace kp {

// The configuration file kpd reads when it exists and --config names no other.
inline constexpr const char* kDefaultConfigFile = "/etc/kp/kpd.conf";

struct Flags {
  service::ServerOptions server;  // its `listen` is filled in: the default when none given
  bool listenGiven = false;       // --listen was given (else `listen` holds the default)
  std::string logLevel = "info";
  bool listDevices = false;
  bool validation = false;
  unsigned drainMs = 10'000;
  std::string socketMode = "0660";  // checked by service::parseSocketMode
  std::string faults;               // --inject-fault (hidden; tests only)
};

// Parses kpd's command line into `flags`. Returns -1 when kpd should go on, else the exit code
// to end with (after --help, or a bad flag: the message was printed).
int parseFlags(int argc, char** argv, Flags* flags);

}  // namespace kp
