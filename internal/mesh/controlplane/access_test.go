package controlplane_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appmesh"
	"github.com/aws/aws-sdk-go-v2/service/appmesh/types"
)

func tagMap(tags []types.TagRef) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

// TestTags tags at creation, adds, replaces, pages and removes tags, and
// checks that tags never change a resource's version.
func TestTags(t *testing.T) {
	_, c := start(t)
	ctx := context.Background()
	out, err := c.CreateMesh(ctx, &appmesh.CreateMeshInput{MeshName: aws.String("m"), Tags: []types.TagRef{{Key: aws.String("team"), Value: aws.String("color")}}})
	if err != nil {
		t.Fatal(err)
	}
	meshARN := out.Mesh.Metadata.Arn
	node := mustCreateNode(t, c, "m", "n")
	nodeARN := node.Metadata.Arn

	if _, err := c.TagResource(ctx, &appmesh.TagResourceInput{ResourceArn: meshARN, Tags: []types.TagRef{{Key: aws.String("team"), Value: aws.String("blue")}, {Key: aws.String("env"), Value: aws.String("dev")}}}); err != nil {
		t.Fatal(err)
	}
	lt, err := c.ListTagsForResource(ctx, &appmesh.ListTagsForResourceInput{ResourceArn: meshARN})
	if err != nil {
		t.Fatal(err)
	}
	if got := tagMap(lt.Tags); fmt.Sprint(got) != "map[env:dev team:blue]" {
		t.Errorf("mesh tags %v", got)
	}
	if _, err := c.UntagResource(ctx, &appmesh.UntagResourceInput{ResourceArn: meshARN, TagKeys: []string{"team", "absent"}}); err != nil {
		t.Fatal(err)
	}
	lt, err = c.ListTagsForResource(ctx, &appmesh.ListTagsForResourceInput{ResourceArn: meshARN})
	if err != nil {
		t.Fatal(err)
	}
	if got := tagMap(lt.Tags); fmt.Sprint(got) != "map[env:dev]" {
		t.Errorf("mesh tags after untag %v", got)
	}
	dm, err := c.DescribeMesh(ctx, &appmesh.DescribeMeshInput{MeshName: aws.String("m")})
	if err != nil {
		t.Fatal(err)
	}
	if v := aws.ToInt64(dm.Mesh.Metadata.Version); v != 1 {
		t.Errorf("tagging changed the version to %d", v)
	}

	// Paging through 30 tags on a node, 7 at a time.
	var tags []types.TagRef
	for i := range 30 {
		tags = append(tags, types.TagRef{Key: aws.String(fmt.Sprintf("k%02d", i)), Value: aws.String("v")})
	}
	if _, err := c.TagResource(ctx, &appmesh.TagResourceInput{ResourceArn: nodeARN, Tags: tags}); err != nil {
		t.Fatal(err)
	}
	p := appmesh.NewListTagsForResourcePaginator(c, &appmesh.ListTagsForResourceInput{ResourceArn: nodeARN, Limit: aws.Int32(7)})
	n, pages := 0, 0
	for p.HasMorePages() {
		o, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(o.Tags)
		pages++
	}
	if n != 30 || pages != 5 {
		t.Errorf("paged %d tags in %d pages, want 30 in 5", n, pages)
	}
	// 30 + 21 new keys is over 50: refused, and nothing applied.
	var more []types.TagRef
	for i := range 21 {
		more = append(more, types.TagRef{Key: aws.String(fmt.Sprintf("new%02d", i)), Value: aws.String("v")})
	}
	_, err = c.TagResource(ctx, &appmesh.TagResourceInput{ResourceArn: nodeARN, Tags: more})
	wantErr(t, err, "TooManyTagsException", http.StatusBadRequest)
	lt, err = c.ListTagsForResource(ctx, &appmesh.ListTagsForResourceInput{ResourceArn: nodeARN})
	if err != nil || len(lt.Tags) != 30 {
		t.Errorf("after refused tagging: %d tags, %v", len(lt.Tags), err)
	}

	for name, arn := range map[string]string{
		"missing resource": arnPrefix + "mesh/m/virtualNode/ghost",
		"foreign ARN":      "arn:aws:kms:us-east-1:111122223333:key/abc",
		"other account":    "arn:aws:appmesh:us-east-1:999999999999:mesh/m",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := c.ListTagsForResource(ctx, &appmesh.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
			if name == "missing resource" {
				wantErr(t, err, "NotFoundException", http.StatusNotFound, "ghost")
			} else {
				wantErr(t, err, "BadRequestException", http.StatusBadRequest, "resourceArn")
			}
		})
	}
	// A deleted resource's tags go with it.
	if _, err := c.DeleteVirtualNode(ctx, &appmesh.DeleteVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String("n")}); err != nil {
		t.Fatal(err)
	}
	mustCreateNode(t, c, "m", "n")
	lt, err = c.ListTagsForResource(ctx, &appmesh.ListTagsForResourceInput{ResourceArn: nodeARN})
	if err != nil || len(lt.Tags) != 0 {
		t.Errorf("recreated node has %d tags, %v", len(lt.Tags), err)
	}
}

// TestAuthorization gives an IAM user appmesh:Describe* and
// appmesh:List* on mesh "m1" and everything in it, and nothing else.
func TestAuthorization(t *testing.T) {
	srv, root := start(t)
	ctx := context.Background()
	for _, m := range []string{"m1", "m2"} {
		mustCreateMesh(t, root, m)
		mustCreateNode(t, root, m, "n")
	}
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
		"Action":["appmesh:Describe*","appmesh:ListVirtualNodes"],
		"Resource":["` + arnPrefix + `mesh/m1","` + arnPrefix + `mesh/m1/*"]}]}`
	c := userClient(t, srv, "reader", doc)

	allowed := map[string]func() error{
		"DescribeMesh m1": func() error {
			_, err := c.DescribeMesh(ctx, &appmesh.DescribeMeshInput{MeshName: aws.String("m1")})
			return err
		},
		"DescribeVirtualNode m1": func() error {
			_, err := c.DescribeVirtualNode(ctx, &appmesh.DescribeVirtualNodeInput{MeshName: aws.String("m1"), VirtualNodeName: aws.String("n")})
			return err
		},
		"ListVirtualNodes m1": func() error {
			_, err := c.ListVirtualNodes(ctx, &appmesh.ListVirtualNodesInput{MeshName: aws.String("m1")})
			return err
		},
	}
	denied := map[string]func() error{
		"DescribeMesh m2": func() error {
			_, err := c.DescribeMesh(ctx, &appmesh.DescribeMeshInput{MeshName: aws.String("m2")})
			return err
		},
		"DescribeVirtualNode m2": func() error {
			_, err := c.DescribeVirtualNode(ctx, &appmesh.DescribeVirtualNodeInput{MeshName: aws.String("m2"), VirtualNodeName: aws.String("n")})
			return err
		},
		"ListMeshes": func() error { _, err := c.ListMeshes(ctx, &appmesh.ListMeshesInput{}); return err },
		"UpdateVirtualNode m1": func() error {
			_, err := c.UpdateVirtualNode(ctx, &appmesh.UpdateVirtualNodeInput{MeshName: aws.String("m1"), VirtualNodeName: aws.String("n"), Spec: &types.VirtualNodeSpec{}})
			return err
		},
		"CreateVirtualNode m1": func() error {
			_, err := c.CreateVirtualNode(ctx, &appmesh.CreateVirtualNodeInput{MeshName: aws.String("m1"), VirtualNodeName: aws.String("x"), Spec: &types.VirtualNodeSpec{}})
			return err
		},
		"DeleteMesh m1": func() error {
			_, err := c.DeleteMesh(ctx, &appmesh.DeleteMeshInput{MeshName: aws.String("m1")})
			return err
		},
		"TagResource m1": func() error {
			_, err := c.TagResource(ctx, &appmesh.TagResourceInput{ResourceArn: aws.String(arnPrefix + "mesh/m1"), Tags: []types.TagRef{{Key: aws.String("k"), Value: aws.String("v")}}})
			return err
		},
		// Denied before existence is checked: no probing of other meshes.
		"DescribeMesh missing": func() error {
			_, err := c.DescribeMesh(ctx, &appmesh.DescribeMeshInput{MeshName: aws.String("nope")})
			return err
		},
	}
	for name, call := range allowed {
		t.Run("allow "+name, func(t *testing.T) {
			if err := call(); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
	}
	for name, call := range denied {
		t.Run("deny "+name, func(t *testing.T) {
			wantErr(t, call(), "AccessDeniedException", http.StatusForbidden, "appmesh:")
		})
	}
	// The refusals changed nothing.
	o, err := root.DescribeVirtualNode(ctx, &appmesh.DescribeVirtualNodeInput{MeshName: aws.String("m1"), VirtualNodeName: aws.String("n")})
	if err != nil || aws.ToInt64(o.VirtualNode.Metadata.Version) != 1 {
		t.Errorf("after denied update: %v", err)
	}
}
