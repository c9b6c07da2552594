"""Every public name of Kompute's C++ API, by era, as its public headers declare them
(src/include/kompute/*.hpp and src/include/kompute/operations/*.hpp at tags v0.5.0, v0.6.0, v0.8.1
and v0.9.0, plus logger/Logger.hpp at v0.9.0): the classes and structs of namespace kp, each
public member function as Class::method (a constructor is the class's own name; overloads, and
overrides a class declares again, count once per class; destructors and operators = are left
out), public nested types and their enum values, namespace-level type aliases, and the KP_LOG_*
logging macros. Private and protected members, other namespaces (kp::shader_data, logger) and
the headers' internal macros are not API. v0.5.0 and v0.6.0 declare the same API."""

V05_06 = sorted("""
Algorithm Algorithm::init Algorithm::recordDispatch Manager Manager::buildTensor
Manager::createManagedSequence Manager::evalOp Manager::evalOpAsync Manager::evalOpAsyncDefault
Manager::evalOpAwait Manager::evalOpAwaitDefault Manager::evalOpDefault
Manager::getOrCreateManagedSequence OpAlgoBase OpAlgoBase::KomputeWorkgroup OpAlgoBase::init
OpAlgoBase::postEval OpAlgoBase::preEval OpAlgoBase::record OpAlgoLhsRhsOut OpAlgoLhsRhsOut::init
OpAlgoLhsRhsOut::postEval OpAlgoLhsRhsOut::record OpBase OpBase::init OpBase::postEval
OpBase::preEval OpBase::record OpMult OpMult::fetchSpirvBinaryData OpTensorCopy OpTensorCopy::init
OpTensorCopy::postEval OpTensorCopy::preEval OpTensorCopy::record OpTensorCreate
OpTensorCreate::init OpTensorCreate::postEval OpTensorCreate::preEval OpTensorCreate::record
OpTensorSyncDevice OpTensorSyncDevice::init OpTensorSyncDevice::postEval OpTensorSyncDevice::preEval
OpTensorSyncDevice::record OpTensorSyncLocal OpTensorSyncLocal::init OpTensorSyncLocal::postEval
OpTensorSyncLocal::preEval OpTensorSyncLocal::record Sequence Sequence::begin Sequence::end
Sequence::eval Sequence::evalAsync Sequence::evalAwait Sequence::freeMemoryDestroyGPUResources
Sequence::init Sequence::isInit Sequence::isRecording Sequence::isRunning Sequence::record Tensor
Tensor::TensorTypes Tensor::TensorTypes::eDevice Tensor::TensorTypes::eStaging
Tensor::TensorTypes::eStorage Tensor::constructDescriptorBufferInfo Tensor::data
Tensor::freeMemoryDestroyGPUResources Tensor::init Tensor::isInit Tensor::mapDataFromHostMemory
Tensor::mapDataIntoHostMemory Tensor::operator[] Tensor::recordBufferMemoryBarrier
Tensor::recordCopyFrom Tensor::setData Tensor::shape Tensor::size Tensor::tensorType
""".split())

# V05_06 has no KP_LOG_* macros (Kompute logged through SPDLOG_* then) and no type aliases.
# OpMult::fetchSpirvBinaryData is public only in RELEASE builds (protected in OpAlgoBase).

V08_09 = sorted("""
Algorithm Algorithm::destroy Algorithm::getPushConstants Algorithm::getSpecializationConstants
Algorithm::getTensors Algorithm::getWorkgroup Algorithm::isInit Algorithm::rebuild
Algorithm::recordBindCore Algorithm::recordBindPush Algorithm::recordDispatch
Algorithm::setPushConstants Algorithm::setWorkgroup Constants KP_LOG_DEBUG KP_LOG_ERROR KP_LOG_INFO
KP_LOG_TRACE KP_LOG_WARN Manager Manager::algorithm Manager::clear Manager::destroy
Manager::getDeviceProperties Manager::getVkInstance Manager::listDevices Manager::sequence
Manager::tensor Manager::tensorT OpAlgoDispatch OpAlgoDispatch::postEval OpAlgoDispatch::preEval
OpAlgoDispatch::record OpBase OpBase::postEval OpBase::preEval OpBase::record OpMemoryBarrier
OpMemoryBarrier::postEval OpMemoryBarrier::preEval OpMemoryBarrier::record OpMult OpTensorCopy
OpTensorCopy::postEval OpTensorCopy::preEval OpTensorCopy::record OpTensorSyncDevice
OpTensorSyncDevice::postEval OpTensorSyncDevice::preEval OpTensorSyncDevice::record
OpTensorSyncLocal OpTensorSyncLocal::postEval OpTensorSyncLocal::preEval OpTensorSyncLocal::record
Sequence Sequence::begin Sequence::clear Sequence::destroy Sequence::end Sequence::eval
Sequence::evalAsync Sequence::evalAwait Sequence::getTimestamps Sequence::isInit
Sequence::isRecording Sequence::isRunning Sequence::record Sequence::rerecord Tensor
Tensor::TensorDataTypes Tensor::TensorDataTypes::eBool Tensor::TensorDataTypes::eDouble
Tensor::TensorDataTypes::eFloat Tensor::TensorDataTypes::eInt Tensor::TensorDataTypes::eUnsignedInt
Tensor::TensorTypes Tensor::TensorTypes::eDevice Tensor::TensorTypes::eHost
Tensor::TensorTypes::eStorage Tensor::constructDescriptorBufferInfo Tensor::data Tensor::dataType
Tensor::dataTypeMemorySize Tensor::destroy Tensor::isInit Tensor::memorySize Tensor::rawData
Tensor::rebuild Tensor::recordCopyFrom Tensor::recordCopyFromDeviceToStaging
Tensor::recordCopyFromStagingToDevice Tensor::recordPrimaryBufferMemoryBarrier
Tensor::recordStagingBufferMemoryBarrier Tensor::setRawData Tensor::size Tensor::tensorType
Tensor::toString Tensor::vector TensorT TensorT::data TensorT::dataType TensorT::operator[]
TensorT::setData TensorT::vector Workgroup
""".split())
