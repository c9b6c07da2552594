// eval_loop_client ADDRESS: a kp_client program that holds a 16 MiB tensor and evaluates
// forever; sessions_test.cc kills it mid-loop. Prints "ready" after its first evaluation.
#include <kp/kp.hpp>

#include <iostream>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: eval_loop_client ADDRESS\n";
    return 2;
  }
  kp::Manager mgr(argv[1]);
  auto big = mgr.tensor(std::vector<float>(4 * 1024 * 1024, 1.0f));
  auto seq =
      mgr.sequence()->record<kp::OpTensorSyncDevice>({big})->record<kp::OpTensorSyncLocal>({big});
  seq->eval();
  std::cout << "ready" << std::endl;
  while (true) seq->eval();
}
