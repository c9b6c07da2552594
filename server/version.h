// kpd's version: the project version and the git commit it was built from, e.g.
// "0.1.0 (git 1a2b3c4d5e6f)" (generated at build time by cmake/kpd_version.cmake).
#pragma once

namespace kp {

extern const char* const kVersion;

}  // namespace kp
