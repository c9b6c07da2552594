// Kompute v0.9's README C++ example ("array multiplication"), with only its #include changed:
// kp::Manager connects to kpd ($KP_ADDRESS, else the local socket) instead of opening the GPU
// in this process. Prints "4  8  12  10  10  10  ".
#include <kp/kp.hpp>  // was: #include "kompute/Kompute.hpp"

#include <iostream>
#include <memory>
#include <string>
#include <vector>

// Kompute's documentation leaves compileSource() to the program (its version ran
// glslangValidator). Here kpd compiles the GLSL.
static std::vector<uint32_t> compileSource(const std::string& source) {
  return kp::compileSource(source);
}

void kompute(const std::string& shader) {
  // 1. The manager: device 0, its default compute queue.
  kp::Manager mgr;

  // 2. Tensors, created through the manager: float by default, or explicitly typed.
  auto tensorInA = mgr.tensor({2., 2., 2.});
  auto tensorInB = mgr.tensor({1., 2., 3.});
  auto tensorOutA = mgr.tensorT<uint32_t>({0, 0, 0});
  auto tensorOutB = mgr.tensorT<uint32_t>({0, 0, 0});

  std::vector<std::shared_ptr<kp::Tensor>> params = {tensorInA, tensorInB, tensorOutA, tensorOutB};

  // 3. The algorithm: shader, workgroup, specialisation and push constants.
  kp::Workgroup workgroup({3, 1, 1});
  std::vector<float> specConsts({2});
  std::vector<float> pushConstsA({2.0});
  std::vector<float> pushConstsB({3.0});

  auto algorithm = mgr.algorithm(params, compileSource(shader), workgroup, specConsts, pushConstsA);

  // 4. Run synchronously with a sequence.
  mgr.sequence()
      ->record<kp::OpTensorSyncDevice>(params)
      ->record<kp::OpAlgoDispatch>(algorithm)               // default push constants
      ->eval()                                              // runs the two recorded ops
      ->record<kp::OpAlgoDispatch>(algorithm, pushConstsB)  // overrides the push constants
      ->eval();                                             // runs only the last record

  // 5. Sync the results back asynchronously.
  auto sq = mgr.sequence();
  sq->evalAsync<kp::OpTensorSyncLocal>(params);

  // ... other work while the GPU finishes ...

  sq->evalAwait();

  // { 4, 8, 12 }
  for (const float& elem : tensorOutA->vector()) std::cout << elem << "  ";
  // { 10, 10, 10 }
  for (const float& elem : tensorOutB->vector()) std::cout << elem << "  ";
}  // everything is freed in the daemon here

int main() {
  std::string shader = (R"(
      #version 450

      layout (local_size_x = 1) in;

      // Binding i is the i-th tensor of the algorithm.
      layout(set = 0, binding = 0) buffer buf_in_a { float in_a[]; };
      layout(set = 0, binding = 1) buffer buf_in_b { float in_b[]; };
      layout(set = 0, binding = 2) buffer buf_out_a { uint out_a[]; };
      layout(set = 0, binding = 3) buffer buf_out_b { uint out_b[]; };

      // Push constants, replaceable per dispatch.
      layout(push_constant) uniform PushConstants {
          float val;
      } push_const;

      // A specialisation constant, fixed when the algorithm is made.
      layout(constant_id = 0) const float const_one = 0;

      void main() {
          uint index = gl_GlobalInvocationID.x;
          out_a[index] += uint( in_a[index] * in_b[index] );
          out_b[index] += uint( const_one * push_const.val );
      }
  )");

  kompute(shader);
}
