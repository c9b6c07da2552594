// kp-multiply: multiplies two float tensors element by element on a kpd's GPU, through the
// kp.v1.Compute gRPC API generated from proto/kp/v1 (see README.md for how to generate it).
//
//	kp-multiply -address unix:/run/kp/kpd.sock      # or host:port; default $KP_ADDRESS
//
// It prints the result and exits non-zero if it is not the expected one.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"slices"
	"time"

	kpv1 "github.com/kp-gpu/kp/proto/kp/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// The compute shader: one invocation per element (the default workgroup count is the size of
// the first tensor), tensors bound at bindings 0, 1, 2 in CreateAlgorithm's order.
const multiplyGLSL = `#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) readonly buffer Lhs { float lhs[]; };
layout(set = 0, binding = 1) readonly buffer Rhs { float rhs[]; };
layout(set = 0, binding = 2) writeonly buffer Out { float result[]; };
void main() {
    uint i = gl_GlobalInvocationID.x;
    result[i] = lhs[i] * rhs[i];
}
`

func main() {
	address := flag.String("address", os.Getenv("KP_ADDRESS"),
		"kpd's address: unix:/path/to/socket or host:port (default $KP_ADDRESS, else unix:/run/kp/kpd.sock)")
	flag.Parse()
	if *address == "" {
		*address = "unix:/run/kp/kpd.sock" // the system kpd's socket
	}
	if err := run(*address); err != nil {
		fmt.Fprintln(os.Stderr, "kp-multiply:", err)
		os.Exit(1)
	}
}

func run(address string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// grpc-go understands both "unix:/path" and "host:port" targets. Plain text: a kpd whose
	// TCP address needs TLS or a token would need credentials here.
	conn, err := grpc.NewClient(address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	kp := kpv1.NewComputeClient(conn)

	// A session lives as long as its OpenSession stream: the first event carries its id, which
	// every later request names.
	streamCtx, endStream := context.WithCancel(ctx)
	defer endStream()
	events, err := kp.OpenSession(streamCtx, &kpv1.OpenSessionRequest{ClientName: "go kp-multiply"})
	if err != nil {
		return fmt.Errorf("OpenSession on %s: %w", address, err)
	}
	first, err := events.Recv()
	if err != nil {
		return fmt.Errorf("OpenSession on %s: %w", address, err)
	}
	opened := first.GetOpened()
	if opened == nil {
		return errors.New("OpenSession: the first event is not `opened`")
	}
	session := opened.GetSession()
	fmt.Printf("session #%d on %s\n", opened.GetSerial(), opened.GetDevice().GetName())
	// Closing the session frees everything it created; its stream then ends with `closed`.
	defer func() {
		if _, err := kp.CloseSession(ctx, &kpv1.CloseSessionRequest{Session: session}); err != nil {
			fmt.Fprintln(os.Stderr, "kp-multiply: CloseSession:", err)
			return
		}
		if last, err := events.Recv(); err == nil && last.GetClosed() != nil {
			fmt.Println("session closed:", last.GetClosed().GetReason())
		}
	}()

	lhs := []float32{2, 4, 6, 8}
	rhs := []float32{0, 1, 2, 3}
	newTensor := func(values []float32) (uint64, error) {
		reply, err := kp.CreateTensor(ctx, &kpv1.CreateTensorRequest{
			Session:  session,
			DataType: kpv1.DataType_DATA_TYPE_FLOAT32,
			Size:     uint64(len(values)),
			Data:     floatBytes(values),
		})
		return reply.GetTensor(), err
	}
	a, err := newTensor(lhs)
	if err != nil {
		return fmt.Errorf("CreateTensor: %w", err)
	}
	b, err := newTensor(rhs)
	if err != nil {
		return fmt.Errorf("CreateTensor: %w", err)
	}
	out, err := newTensor(make([]float32, len(lhs))) // zeros
	if err != nil {
		return fmt.Errorf("CreateTensor: %w", err)
	}

	// GLSL source goes in the `glsl` arm of the `shader` oneof (SPIR-V bytes in `spirv`): the
	// daemon compiles it.
	algo, err := kp.CreateAlgorithm(ctx, &kpv1.CreateAlgorithmRequest{
		Session: session,
		Tensors: []uint64{a, b, out},
		Shader:  &kpv1.CreateAlgorithmRequest_Glsl{Glsl: multiplyGLSL},
	})
	if err != nil {
		return fmt.Errorf("CreateAlgorithm: %w", err)
	}
	seq, err := kp.CreateSequence(ctx, &kpv1.CreateSequenceRequest{Session: session})
	if err != nil {
		return fmt.Errorf("CreateSequence: %w", err)
	}

	// One round trip: record the ops into the sequence and run them. The tensors' host copies
	// already hold their creation data, so the request carries no `uploads`; the reply's
	// `downloads` carries what OpTensorSyncLocal brought back.
	reply, err := kp.Eval(ctx, &kpv1.EvalRequest{
		Session:  session,
		Sequence: seq.GetSequence(),
		Record:   true,
		Ops: []*kpv1.Op{
			{Op: &kpv1.Op_TensorSyncDevice{TensorSyncDevice: &kpv1.OpTensorSyncDevice{Tensors: []uint64{a, b}}}},
			{Op: &kpv1.Op_AlgoDispatch{AlgoDispatch: &kpv1.OpAlgoDispatch{Algorithm: algo.GetAlgorithm()}}},
			{Op: &kpv1.Op_TensorSyncLocal{TensorSyncLocal: &kpv1.OpTensorSyncLocal{Tensors: []uint64{out}}}},
		},
	})
	if err != nil {
		return fmt.Errorf("Eval: %w", err)
	}
	var result []float32
	for _, d := range reply.GetDownloads() {
		if d.GetTensor() == out {
			result = floats(d.GetData())
		}
	}
	fmt.Printf("%v * %v = %v\n", lhs, rhs, result)

	want := make([]float32, len(lhs))
	for i := range lhs {
		want[i] = lhs[i] * rhs[i]
	}
	if !slices.Equal(result, want) {
		return fmt.Errorf("wrong result %v, want %v", result, want)
	}
	return nil
}

// floatBytes packs float32s as tensor bytes: little-endian, 4 bytes each (types.proto).
func floatBytes(values []float32) []byte {
	data := make([]byte, 0, 4*len(values))
	for _, v := range values {
		data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
	}
	return data
}

// floats unpacks tensor bytes into float32s.
func floats(data []byte) []float32 {
	values := make([]float32, len(data)/4)
	for i := range values {
		values[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
	}
	return values
}
