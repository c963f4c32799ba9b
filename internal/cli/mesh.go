package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/appmesh"
	"github.com/spf13/cobra"

	"github.com/bulwarkd/bulwark/internal/certsync"
	"github.com/bulwarkd/bulwark/internal/mesh/importer"
)

// newMeshCmd is the parent of the service-mesh tools; each subcommand is
// one AddCommand line.
func newMeshCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mesh",
		Short: "Service-mesh tools: import an App Mesh configuration, bootstrap data planes",
	}
	cmd.AddCommand(newMeshImportCmd(), newMeshBootstrapCmd())
	return cmd
}

// maxImportFile bounds one input file; App Mesh templates are kilobytes.
const maxImportFile = 16 << 20

type meshImportFlags struct {
	format, output, endpoint, region  string
	dryRun, offline, update, allowAWS bool
	params                            []string
	opt                               importer.Options
}

func newMeshImportCmd() *cobra.Command {
	var f meshImportFlags
	cmd := &cobra.Command{
		Use:   "import FILE... [--dry-run] [-o json]",
		Short: "Create App Mesh resources from CloudFormation templates or App Mesh controller resources",
		Long: `Reads AWS::AppMesh::* resources from CloudFormation templates (JSON or YAML,
short-form tags included) and the App Mesh Kubernetes controller's resources
(appmesh.k8s.aws/v1beta2, multi-document YAML), and creates them through the
App Mesh API in dependency order: mesh, virtual nodes/gateways/routers,
routes, virtual services, gateway routes. FILE - reads standard input.

An existing resource with the same spec is skipped, so a re-run is harmless.
One with a different spec is a conflict: nothing is written unless --update.
--dry-run prints the plan (create/skip/update/conflict per resource) after
reading the server, and writes nothing. See docs/migrate-from-app-mesh.md.

The endpoint is --endpoint, else AWS_ENDPOINT_URL(_APP_MESH) or the shared
config; it is printed, and with none configured the command refuses rather
than reach AWS.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMeshImport(cmd, &f, args)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.dryRun, "dry-run", false, "print the plan and exit without creating or updating anything")
	fl.BoolVar(&f.allowAWS, "aws", false, "allow AWS's own App Mesh endpoint and the EC2 metadata service for credentials when no endpoint is given")
	fl.BoolVar(&f.offline, "offline", false, "with --dry-run: plan without asking the server (every resource shows as create)")
	fl.BoolVar(&f.update, "update", false, "update existing resources whose spec differs (default: report them as conflicts and change nothing)")
	fl.StringVarP(&f.output, "output", "o", "text", "plan format: text or json")
	fl.StringVar(&f.format, "format", "auto", "input format: auto, cloudformation or kubernetes")
	fl.StringVar(&f.endpoint, "endpoint", "", "App Mesh API endpoint (default: AWS_ENDPOINT_URL; never AWS unless given)")
	fl.StringArrayVar(&f.params, "parameter", nil, "CloudFormation: KEY=VALUE sets a Parameter, or what !Ref KEY / !GetAtt KEY.Attr of a non-App Mesh resource stands for (repeatable)")
	fl.StringVar(&f.region, "region", "", "AWS::Region and the region of ARNs (default: the AWS configuration's)")
	fl.StringVar(&f.opt.AccountID, "account-id", "", "AWS::AccountId and the account of ARNs the template builds")
	fl.StringVar(&f.opt.StackName, "stack-name", "", "AWS::StackName")
	fl.StringVar(&f.opt.DefaultMesh, "mesh", "", "Kubernetes: mesh of resources without spec.meshRef (default: the input's only Mesh)")
	return cmd
}

func runMeshImport(cmd *cobra.Command, f *meshImportFlags, args []string) error {
	ctx := cmd.Context()
	out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if f.output != "text" && f.output != "json" {
		return fmt.Errorf("-o %q: use text or json", f.output)
	}
	if f.offline && !f.dryRun {
		return errors.New("--offline only plans: use it with --dry-run")
	}
	format := importer.Format(f.format)
	switch f.format {
	case "auto":
		format = importer.FormatAuto
	case "cloudformation", "kubernetes":
	default:
		return fmt.Errorf("--format %q: use auto, cloudformation or kubernetes", f.format)
	}
	f.opt.Values = map[string]string{}
	for _, p := range f.params {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return fmt.Errorf("--parameter %q: use KEY=VALUE", p)
		}
		f.opt.Values[k] = v
	}
	files, err := readImportFiles(cmd.InOrStdin(), args)
	if err != nil {
		return err
	}

	// --offline never calls the API, so it needs no endpoint; otherwise a
	// missing endpoint is refused here, before any request could go to AWS.
	cfg, _, err := certsync.LoadAWSConfig(ctx, certsync.AWSOptions{Endpoint: f.endpoint, AllowAWS: f.offline || f.allowAWS})
	if err != nil {
		return err
	}
	if f.region != "" {
		cfg.Region = f.region
	}
	f.opt.Region = cfg.Region
	var client *appmesh.Client
	endpoint := ""
	if !f.offline {
		client = appmesh.NewFromConfig(cfg, func(o *appmesh.Options) {
			if f.endpoint != "" {
				o.BaseEndpoint = &f.endpoint // the flag wins over AWS_ENDPOINT_URL_APP_MESH
			}
		})
		if ep := client.Options().BaseEndpoint; ep != nil && *ep != "" {
			endpoint = *ep
		} else if f.allowAWS {
			endpoint = "AWS"
		} else {
			return errors.New("no App Mesh endpoint: pass --endpoint URL or set AWS_ENDPOINT_URL to Bulwark's API " +
				"(the importer never falls back to AWS; to import into AWS App Mesh, pass its endpoint, e.g. https://appmesh.us-east-1.amazonaws.com)")
		}
		fmt.Fprintf(errw, "App Mesh endpoint: %s\n", endpoint)
	}

	rs, err := importer.ParseFiles(files, format, f.opt)
	if err != nil {
		return err
	}
	var plan *importer.Plan
	if f.offline {
		plan = importer.OfflinePlan(rs)
	} else {
		api := importer.SDK{Client: client}
		if plan, err = importer.MakePlan(ctx, api, rs, f.update); err != nil {
			return err
		}
		plan.Endpoint = endpoint
	}
	conflicts := plan.Count(importer.ActionConflict)
	if f.dryRun || conflicts > 0 {
		if err := writePlan(out, f.output, plan, f.dryRun, false); err != nil {
			return err
		}
		if conflicts > 0 {
			return fmt.Errorf("%w: %d conflict(s); nothing was changed (re-run with --update to overwrite them)", importer.ErrConflicts, conflicts)
		}
		return nil
	}
	done, err := importer.Apply(ctx, importer.SDK{Client: client}, plan)
	if err != nil {
		if done > 0 {
			fmt.Fprintf(errw, "%d of %d steps done before the failure; a re-run skips them\n", done, len(plan.Steps))
		}
		return err
	}
	return writePlan(out, f.output, plan, false, true)
}

// readImportFiles reads the named files ("-" is standard input), each at
// most maxImportFile bytes.
func readImportFiles(stdin io.Reader, names []string) ([]importer.File, error) {
	var files []importer.File
	for _, name := range names {
		var r io.Reader
		if name == "-" {
			r, name = stdin, "<stdin>"
		} else {
			fh, err := os.Open(name)
			if err != nil {
				return nil, err
			}
			defer fh.Close()
			r = fh
		}
		b, err := io.ReadAll(io.LimitReader(r, maxImportFile+1))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(b) > maxImportFile {
			return nil, fmt.Errorf("%s: larger than %d MiB", name, maxImportFile>>20)
		}
		files = append(files, importer.File{Name: name, Data: b})
	}
	return files, nil
}

func writePlan(w io.Writer, format string, p *importer.Plan, dryRun, applied bool) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			DryRun  bool `json:"dryRun"`
			Applied bool `json:"applied"`
			*importer.Plan
		}{dryRun, applied, p})
	}
	if dryRun {
		fmt.Fprintln(w, "Plan (dry run, nothing written):")
	}
	return p.WriteText(w)
}
