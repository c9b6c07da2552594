"""Every name of Kompute's Python API, by era, as its bindings (python/src/main.cpp at tags
v0.5.0, v0.6.0, v0.7.0, v0.8.1 and v0.9.0) define them: classes, their methods and enum values,
and module functions. test_compatibility_names.py checks each against the kp package and
against README's table of them, so neither can drift."""

V05_06 = sorted("""
Manager Manager.build_tensor Manager.create_sequence Manager.eval_algo_data
Manager.eval_algo_data_def Manager.eval_algo_file Manager.eval_algo_file_def
Manager.eval_algo_lro Manager.eval_algo_lro_def Manager.eval_algo_mult
Manager.eval_algo_mult_def Manager.eval_algo_str Manager.eval_algo_str_def
Manager.eval_async_algo_data Manager.eval_async_algo_data_def Manager.eval_async_algo_file
Manager.eval_async_algo_file_def Manager.eval_async_algo_lro Manager.eval_async_algo_lro_def
Manager.eval_async_algo_mult Manager.eval_async_algo_mult_def Manager.eval_async_algo_str
Manager.eval_async_algo_str_def Manager.eval_async_tensor_copy
Manager.eval_async_tensor_copy_def Manager.eval_async_tensor_create
Manager.eval_async_tensor_create_def Manager.eval_async_tensor_sync_device
Manager.eval_async_tensor_sync_device_def Manager.eval_async_tensor_sync_local
Manager.eval_async_tensor_sync_local_def Manager.eval_await Manager.eval_await_def
Manager.eval_tensor_copy Manager.eval_tensor_copy_def Manager.eval_tensor_create
Manager.eval_tensor_create_def Manager.eval_tensor_sync_device
Manager.eval_tensor_sync_device_def Manager.eval_tensor_sync_local
Manager.eval_tensor_sync_local_def Manager.get_create_sequence Sequence Sequence.begin
Sequence.end Sequence.eval Sequence.eval_async Sequence.eval_await Sequence.init
Sequence.is_init Sequence.is_rec Sequence.is_running Sequence.record_algo_data
Sequence.record_algo_file Sequence.record_algo_lro Sequence.record_algo_mult
Sequence.record_tensor_copy Sequence.record_tensor_create Sequence.record_tensor_sync_device
Sequence.record_tensor_sync_local Tensor Tensor.__contains__ Tensor.__getitem__ Tensor.__iter__
Tensor.__len__ Tensor.__reversed__ Tensor.__setitem__ Tensor.data Tensor.is_init
Tensor.map_data_from_host Tensor.map_data_into_host Tensor.numpy Tensor.set_data Tensor.size
Tensor.tensor_type TensorTypes TensorTypes.device TensorTypes.staging TensorTypes.storage
log_level
""".split())

# v0.7 added the GLSL compiler helper; its examples (and v0.9's) call it.
V07 = ["Shader", "Shader.compile_source", "Shader.compile_sources"]

V08_09 = sorted("""
Algorithm Algorithm.destroy Algorithm.get_tensors Algorithm.is_init Manager Manager.algorithm
Manager.destroy Manager.get_device_properties Manager.list_devices Manager.sequence
Manager.tensor Manager.tensor_t OpAlgoDispatch OpBase OpMult OpTensorCopy OpTensorSyncDevice
OpTensorSyncLocal Sequence Sequence.clear Sequence.destroy Sequence.eval Sequence.eval_async
Sequence.eval_await Sequence.get_timestamps Sequence.is_init Sequence.is_recording
Sequence.is_running Sequence.record Sequence.rerecord Tensor Tensor.__len__ Tensor.data
Tensor.data_type Tensor.destroy Tensor.is_init Tensor.size Tensor.tensor_type TensorTypes
TensorTypes.device TensorTypes.host TensorTypes.storage
""".split())
