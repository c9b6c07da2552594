// Tensors whose host copy is external memory (a region shared with a client): imported as the
// GPU's staging memory where the device allows, mirrored otherwise.
#include <sys/mman.h>

#include "test_environment.h"

namespace kp::engine::test {
namespace {

// Page-aligned anonymous memory, as the daemon's shared regions are.
class Pages {
 public:
  explicit Pages(size_t size) : size_(size) {
    data_ = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  }
  ~Pages() { munmap(data_, size_); }
  float* floats(size_t offsetBytes = 0) {
    return reinterpret_cast<float*>(static_cast<char*>(data_) + offsetBytes);
  }
  ExternalHostMemory external(size_t offsetBytes = 0) {
    return ExternalHostMemory{static_cast<char*>(data_) + offsetBytes, size_ - offsetBytes,
                              nullptr};
  }

 private:
  void* data_;
  size_t size_;
};

class ExternalHostMemoryTest : public EngineTest,
                               public ::testing::WithParamInterface<std::tuple<TensorType, bool>> {
};

TEST_P(ExternalHostMemoryTest, HostCopyIsTheExternalMemory) {
  const auto [type, aligned] = GetParam();
  Pages pages(1 << 16);
  // An offset of 4 bytes cannot be imported: the tensor mirrors the memory instead. So does a
  // small device tensor (its staging buffer mirrors, a host tensor's buffer imports).
  const size_t offset = aligned ? 0 : 4;
  ExternalHostMemory external = pages.external(offset);
  const std::vector<float> initial{1, 2, 3, 4};
  auto tensor = Tensor::create(device_, DataType::kFloat32, 4, type, initial.data(), &external);
  const bool canImport = device_->info().importHostPointerAlignment > 0;
  EXPECT_EQ(tensor->isImported(), aligned && canImport && type == TensorType::kHost);
  EXPECT_EQ(tensor->hostData(), pages.floats(offset));
  EXPECT_EQ(std::vector<float>(pages.floats(offset), pages.floats(offset) + 4), initial);
  EXPECT_EQ(gpuValues<float>(tensor), initial);

  // The client writes its pages; a sync-device uploads them and a sync-local brings the GPU's
  // values back into the same pages.
  auto other = Tensor::create(device_, std::vector<float>{0, 0, 0, 0});
  for (int i = 0; i < 4; ++i) pages.floats(offset)[i] = 10.0f * (i + 1);
  auto sequence = Sequence::create(device_);
  sequence->record(std::make_shared<OpTensorSyncDevice>(std::vector{tensor}))
      .record(std::make_shared<OpTensorCopy>(std::vector{tensor, other}))
      .record(std::make_shared<OpTensorSyncLocal>(std::vector{other}));
  sequence->eval();
  EXPECT_EQ(other->vector<float>(), (std::vector<float>{10, 20, 30, 40}));

  auto back = Sequence::create(device_);
  auto source = Tensor::create(device_, std::vector<float>{7, 8, 9, 6});
  back->record(std::make_shared<OpTensorSyncDevice>(std::vector{source}))
      .record(std::make_shared<OpTensorCopy>(std::vector{source, tensor}))
      .record(std::make_shared<OpTensorSyncLocal>(std::vector{tensor}));
  for (int i = 0; i < 4; ++i) pages.floats(offset)[i] = 0;
  back->eval();
  EXPECT_EQ(std::vector<float>(pages.floats(offset), pages.floats(offset) + 4),
            (std::vector<float>{7, 8, 9, 6}));
  tensor->destroy();
  EXPECT_FALSE(tensor->isInit());
}

TEST_F(ExternalHostMemoryTest, LargeDeviceTensorsImportTheirStaging) {
  const size_t count = 1 << 18;  // 1 MiB of floats
  Pages pages(count * sizeof(float));
  std::vector<float> initial(count);
  for (size_t i = 0; i < count; ++i) initial[i] = static_cast<float>(i % 1000);
  ExternalHostMemory external = pages.external();
  auto tensor = Tensor::create(device_, DataType::kFloat32, count, TensorType::kDevice,
                               initial.data(), &external);
  EXPECT_EQ(tensor->isImported(), device_->info().importHostPointerAlignment > 0);
  EXPECT_EQ(pages.floats()[999], 999.0f);  // the host copy is the pages
  const std::vector<float> values = gpuValues<float>(tensor);
  ASSERT_EQ(values.size(), count);
  EXPECT_EQ(values[999], 999.0f);
  EXPECT_EQ(values[count - 1], static_cast<float>((count - 1) % 1000));
}

INSTANTIATE_TEST_SUITE_P(Types, ExternalHostMemoryTest,
                         ::testing::Combine(::testing::Values(TensorType::kDevice,
                                                              TensorType::kHost),
                                            ::testing::Bool()));

TEST_F(ExternalHostMemoryTest, TooSmallRegionIsRejected) {
  Pages pages(4096);
  ExternalHostMemory external{pages.floats(), 8, nullptr};
  expectError(
      [&] {
        Tensor::create(device_, DataType::kFloat32, 4, TensorType::kDevice, nullptr, &external);
      },
      ErrorCode::kInvalidArgument, "too small");
}

TEST_F(ExternalHostMemoryTest, OwnerIsKeptAliveUntilDestroy) {
  auto pages = std::make_shared<Pages>(4096);
  std::weak_ptr<Pages> watch = pages;
  ExternalHostMemory external{pages->floats(), 4096, pages};
  pages.reset();
  auto tensor =
      Tensor::create(device_, DataType::kFloat32, 16, TensorType::kDevice, nullptr, &external);
  external.owner.reset();
  EXPECT_FALSE(watch.expired());
  tensor->destroy();
  EXPECT_TRUE(watch.expired());
}

}  // namespace
}  // namespace kp::engine::test
