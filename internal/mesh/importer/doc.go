// Package importer moves an App Mesh configuration into Bulwark: it reads
// AWS::AppMesh::* resources from CloudFormation templates (JSON or YAML,
// short-form tags included) and the App Mesh Kubernetes controller's
// custom resources (appmesh.k8s.aws/v1beta2), turns each into the App Mesh
// API's own shape (a Resource: kind, mesh, parent, name, spec JSON), orders
// them so every reference exists before it is used, and plans and applies
// their creation through the App Mesh wire API.
//
// Parsing never talks to a server; planning only reads (Describe*), and
// Apply is the only step that writes. An existing resource whose spec is
// the same is skipped, so a re-run is harmless; one whose spec differs is a
// conflict unless the plan was made with updates allowed.
package importer
