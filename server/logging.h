// kpd's log format. On a terminal or in a file: "2026-12-06 09:16:12.643 info kpd: message".
// Under systemd, whose journal reads kpd's output (JOURNAL_STREAM is set), each line starts
// with its syslog priority instead, "<3>error: message", so that `journalctl -p err` finds
// errors, and the journal's own timestamps stand alone.
#pragma once

#include <string>

namespace kp {

// Sets the level ("trace" ... "off") and the format of spdlog's default logger.
void setUpLogging(const std::string& level);

}  // namespace kp
