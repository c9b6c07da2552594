# The example program of the seed document (Kompute's "Python Package Overview", v0.5/0.6 era),
# run unchanged against kpd except for one fix the document needs: it records `add_shader`,
# a name it never imports, into SQ_MULT; that sequence uses `mult_shader` here.
from kp import Manager

# We'll assume we have the shader data available
from my_spv_shader_data import mult_shader, sum_shader

mgr = Manager()

t1 = mgr.build_tensor([2,2,2])
t2 = mgr.build_tensor([1,2,3])
t3 = mgr.build_tensor([1,2,3])

# Create multiple separate sequences
sq_mult = mgr.create_sequence("SQ_MULT")
sq_sum = mgr.create_sequence("SQ_SUM")
sq_sync = mgr.create_sequence("SQ_SYNC")

# Initialize sq_mult
sq_mult.begin()
sq_mult.record_algo_data([t1, t2, t3], mult_shader)
sq_mult.end()

sq_sum.begin()
sq_sum.record_algo_data([t3, t2, t1], sum_shader)
sq_sum.end()

sq_sync.begin()
sq_sync.record_tensor_sync_local([t1, t3])
sq_sync.end()

# Run multiple iterations
for i in range(10):
    sq_mult.eval()
    sq_sum.eval()
    sq_sync.eval()

print(t1.data(), t2.data(), t3.data())
