"""What operators and load balancers ask a kpd: gRPC health (the server and kp.v1.Compute by
name) and server reflection (what grpcurl lists and describes)."""
from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)


def test_health_reports_the_server_and_kp_service(daemon):
    with grpc.insecure_channel(daemon.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "kp.v1.Compute"):
            reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING, service
        with pytest.raises(grpc.RpcError) as unknown:
            health.Check(health_pb2.HealthCheckRequest(service="kp.v1.Nothing"), timeout=10)
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


def test_reflection_lists_and_describes_the_services(daemon):
    with grpc.insecure_channel(daemon.address) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = set(database.get_services())
        assert {"kp.v1.Compute", "grpc.health.v1.Health"} <= services, services
        compute = database.FindFileContainingSymbol("kp.v1.Compute")
        methods = {m.name for s in compute.service if s.name == "Compute" for m in s.method}
        assert {"OpenSession", "Eval", "CreateTensor", "GetStatus"} <= methods, methods
        # The messages it uses are described too (types.proto, a dependency).
        types = database.FindFileContainingSymbol("kp.v1.OpAlgoDispatch")
        dispatch = next(m for m in types.message_type if m.name == "OpAlgoDispatch")
        assert {f.name for f in dispatch.field} == {"algorithm", "push_constants", "workgroup"}
