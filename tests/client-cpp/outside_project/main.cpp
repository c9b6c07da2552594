// kp_outside [ADDRESS]: multiplies {0, 1, 2} by {2, 4, 6} on the kpd at ADDRESS (default:
// $KP_ADDRESS or the local socket) and prints the product.
#include <kp/kp.hpp>

#include <cstring>
#include <iostream>

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--help") == 0) {
    std::cout << "usage: kp_outside [ADDRESS]\n";
    return 0;
  }
  try {
    kp::Manager mgr(argc > 1 ? argv[1] : "");
    auto lhs = mgr.tensor({0, 1, 2});
    auto rhs = mgr.tensor({2, 4, 6});
    auto out = mgr.tensor({0, 0, 0});
    mgr.sequence()
        ->record<kp::OpTensorSyncDevice>({lhs, rhs})
        ->record<kp::OpMult>({lhs, rhs, out}, mgr.algorithm())
        ->record<kp::OpTensorSyncLocal>({out})
        ->eval();
    const std::vector<float> product = out->vector();
    std::cout << product[0] << " " << product[1] << " " << product[2] << "\n";
    return 0;
  } catch (const kp::Error& error) {
    std::cerr << "kp_outside: " << error.what() << " (" << kp::statusCodeName(error.code())
              << ")\n";
    return 1;
  }
}
