package controlplane_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appmesh"

	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

// BenchmarkDescribeVirtualNode is one proxy poll of its own resource,
// end to end: SDK, SigV4, authorization, store, audit.
func BenchmarkDescribeVirtualNode(b *testing.B) {
	srv := servertest.Start(b)
	c := appmesh.NewFromConfig(srv.AWSConfig())
	ctx := context.Background()
	if _, err := c.CreateMesh(ctx, &appmesh.CreateMeshInput{MeshName: aws.String("m")}); err != nil {
		b.Fatal(err)
	}
	if _, err := c.CreateVirtualNode(ctx, &appmesh.CreateVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String("n"), Spec: nodeSpecForBench()}); err != nil {
		b.Fatal(err)
	}
	in := &appmesh.DescribeVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String("n")}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.DescribeVirtualNode(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListVirtualNodes100 is the version poll over a mesh of 100
// virtual nodes (one page).
func BenchmarkListVirtualNodes100(b *testing.B) {
	srv := servertest.Start(b)
	c := appmesh.NewFromConfig(srv.AWSConfig())
	ctx := context.Background()
	if _, err := c.CreateMesh(ctx, &appmesh.CreateMeshInput{MeshName: aws.String("m")}); err != nil {
		b.Fatal(err)
	}
	for i := range 100 {
		if _, err := c.CreateVirtualNode(ctx, &appmesh.CreateVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String(fmt.Sprintf("n%03d", i)), Spec: nodeSpecForBench()}); err != nil {
			b.Fatal(err)
		}
	}
	in := &appmesh.ListVirtualNodesInput{MeshName: aws.String("m")}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		out, err := c.ListVirtualNodes(ctx, in)
		if err != nil || len(out.VirtualNodes) != 100 {
			b.Fatal(err)
		}
	}
}
